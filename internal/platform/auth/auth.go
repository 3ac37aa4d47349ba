// Package auth says who calls a service and whether they may. The gateway
// authenticates the session and sends the caller's identity in one header,
// signed with HMAC-SHA256 under a secret it shares with the services and
// valid for a short time. Services trust that header only when the
// signature and expiry check out; the gateway drops any copy of it that
// arrives from outside.
//
// An identity has a Role: a shopper with a session, the gateway reading on
// behalf of a client without one, a service calling on its own behalf, or
// an operator (whose identity "streamcart token" mints with the same
// secret). Every route a service serves is registered in a Routes table
// with the Access it needs; a route without one cannot be registered.
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
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Header is the request header that carries a signed Identity.
const Header = "X-Streamcart-Identity"

// Role is what a caller is to the services.
type Role string

// The roles. Verify accepts no other.
const (
	// RoleShopper is a shopper's session, as the gateway authenticated
	// it. Its UserID is the shopper's.
	RoleShopper Role = "shopper"
	// RoleReader is the gateway forwarding a read for a client without a
	// session (product search, images). It has no UserID.
	RoleReader Role = "reader"
	// RoleService is a service calling another on its own behalf, e.g.
	// orders asking the catalog for prices. Its UserID names the service.
	RoleService Role = "service"
	// RoleOperator is a person running the shop: catalog writes, any
	// shopper's payment. Its UserID names the operator.
	RoleOperator Role = "operator"
)

// Roles lists every role.
var Roles = []Role{RoleShopper, RoleReader, RoleService, RoleOperator}

// Identity is who a request is for, as the gateway (or the operator's
// token) established it.
type Identity struct {
	Role Role `json:"role"`
	// UserID is the shopper, service or operator; empty for a reader.
	UserID    string `json:"uid,omitempty"`
	SessionID string `json:"sid,omitempty"`
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

// Sign returns the header value for id, expiring the Signer's ttl from
// now.
func (s *Signer) Sign(id Identity) string {
	return s.SignFor(id, s.ttl)
}

// SignFor returns the header value for id, expiring ttl from now: a
// credential that lives longer than one request, such as an operator's
// token.
func (s *Signer) SignFor(id Identity, ttl time.Duration) string {
	id.Expires = time.Now().Add(ttl).Unix()
	payload, _ := json.Marshal(id) // plain strings and an int always encode
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// DeriveKey returns a key of its own for another use of the Signer's
// secret, named by label (say "streamcart gateway session token v1"): an
// HMAC-SHA256 of label under the secret. Keys of different labels are
// unrelated, and none is the secret itself, so that a value signed under
// one can never pass for an identity or for a value of another use.
func (s *Signer) DeriveKey(label string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("derive:" + label))
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
	if err := json.Unmarshal(payload, &id); err != nil || id.Validate() != nil {
		return Identity{}, ErrMalformed
	}
	if now.Unix() > id.Expires {
		return Identity{}, ErrExpired
	}
	return id, nil
}

// Validate reports what makes id not one any signer should sign: an
// unknown role, a reader with a user, anyone else without one.
func (id Identity) Validate() error {
	switch id.Role {
	case RoleReader:
		if id.UserID != "" {
			return errors.New("a reader has no user id")
		}
	case RoleShopper, RoleService, RoleOperator:
		if id.UserID == "" {
			return fmt.Errorf("a %s identity needs a user id", id.Role)
		}
	default:
		return fmt.Errorf("unknown role %q", id.Role)
	}
	return nil
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

// Require lets a request through only with a valid signed identity of any
// role (AnyCaller), which handlers then get from FromContext; anything else
// gets 401. Services register their routes in a Routes table instead; this
// is for fakes of them.
func (s *Signer) Require(next http.Handler) http.Handler {
	return s.guard(slog.New(slog.DiscardHandler), AnyCaller, next)
}
