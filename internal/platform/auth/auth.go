// Package auth carries the shopper's identity from the gateway to the
// services. The gateway authenticates the session and sends the identity in
// one header, signed with HMAC-SHA256 under a secret it shares with the
// services and valid for a short time. Services trust that header only when
// the signature and expiry check out; the gateway drops any copy of it that
// arrives from outside.
package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"streamcart/internal/platform/web"
)

// Header is the request header that carries a signed Identity.
const Header = "X-Streamcart-Identity"

// Identity is who a request is for, as the gateway established it.
type Identity struct {
	UserID    string `json:"uid"`
	SessionID string `json:"sid"`
	// IP and UserAgent are the shopper's address and browser agent as the
	// gateway saw them, for the identity score.
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"ua,omitempty"`
	// Expires is when the signature stops being accepted.
	Expires int64 `json:"exp"`
}

// Errors returned by Verify.
var (
	ErrMissing   = errors.New("no identity")
	ErrMalformed = errors.New("malformed identity")
	ErrSignature = errors.New("identity signature does not match")
	ErrExpired   = errors.New("identity expired")
)

// MinSecretLen is the shortest secret a Signer accepts.
const MinSecretLen = 32

// Signer signs and verifies identities. It is safe for concurrent use.
type Signer struct {
	key []byte
	ttl time.Duration
}

// NewSigner returns a Signer with secret, whose signatures are valid for
// ttl (default 1 minute: each request is signed afresh).
func NewSigner(secret []byte, ttl time.Duration) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("identity secret must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &Signer{key: bytes.Clone(secret), ttl: ttl}, nil
}

// Sign returns the header value for id, expiring ttl from now.
func (s *Signer) Sign(id Identity) string {
	id.Expires = time.Now().Add(s.ttl).Unix()
	payload, _ := json.Marshal(id) // plain strings and an int always encode
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify checks value's signature and expiry and returns its identity.
func (s *Signer) Verify(value string, now time.Time) (Identity, error) {
	if value == "" {
		return Identity{}, ErrMissing
	}
	p, sig, ok := strings.Cut(value, ".")
	if !ok {
		return Identity{}, ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return Identity{}, ErrMalformed
	}
	if !hmac.Equal(got, s.mac(p)) {
		return Identity{}, ErrSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Identity{}, ErrMalformed
	}
	var id Identity
	if err := json.Unmarshal(payload, &id); err != nil || id.UserID == "" {
		return Identity{}, ErrMalformed
	}
	if now.Unix() > id.Expires {
		return Identity{}, ErrExpired
	}
	return id, nil
}

type ctxKey struct{}

// FromContext returns the identity that Require put in ctx.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// MustFromContext returns the identity that Require put in ctx. It is for
// handlers behind Require; anywhere else a missing identity is a bug in
// the routing, and it panics (the access log turns that into a 500).
func MustFromContext(ctx context.Context) Identity {
	id, ok := FromContext(ctx)
	if !ok {
		panic("auth: no identity in the context: the route is not behind Signer.Require")
	}
	return id
}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// Require lets a request through only with a valid signed identity, which
// handlers then get from FromContext; anything else gets 401.
func (s *Signer) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.Verify(r.Header.Get(Header), time.Now())
		if err != nil {
			web.WriteJSON(w, http.StatusUnauthorized, web.ErrorBody{Error: web.ErrorDetail{
				Code: "unauthenticated", Message: "request has no valid identity from the gateway: " + err.Error(),
			}})
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}
