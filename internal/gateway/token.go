package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"streamcart/internal/platform/auth"
)

// A session token is what the gateway hands a shopper: their user id and
// session id with the token's issue and expiry times, signed by the
// gateway. Redis does not hold sessions: the gateway checks the signature
// and reads the shopper from the token, so that a token outlives the loss
// of Redis's data. Redis holds only what revokes a session before its
// tokens expire (logout; revokedKey).
//
// The form is base64url(JSON payload) "." base64url(HMAC-SHA256 of the
// first part), under a key derived from the identity secret
// (sessionTokenLabel): a gateway with the same secret reads the tokens of
// another, and a new secret ends every session.

// sessionTokenLabel names the key that signs session tokens among the
// uses of the identity secret (auth.Signer.DeriveKey). A new form of
// token gets a new label.
const sessionTokenLabel = "streamcart gateway session token v1"

// maxTokenLen bounds the tokens worth checking: a real one is about 200
// characters.
const maxTokenLen = 512

// maxTokenID bounds the user and session ids a token may carry.
const maxTokenID = 64

// claims is what a session token says.
type claims struct {
	UserID    string `json:"uid"`
	SessionID string `json:"sid"`
	// IssuedAt and Expires are Unix seconds.
	IssuedAt int64 `json:"iat"`
	Expires  int64 `json:"exp"`
}

// tokenSigner signs session tokens and checks them. It is safe for
// concurrent use.
type tokenSigner struct {
	key []byte
}

func newTokenSigner(signer *auth.Signer) tokenSigner {
	return tokenSigner{key: signer.DeriveKey(sessionTokenLabel)}
}

// errBadToken is every reason a token is not accepted; it says nothing of
// which, on purpose: to the client an expired, forged or garbled token is
// the same unknown session.
var errBadToken = errors.New("not a valid session token")

// sign returns the token of c.
func (ts tokenSigner) sign(c claims) string {
	payload, _ := json.Marshal(c) // strings and integers always encode
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(ts.mac(p))
}

// issue returns the token of the session (userID, sessionID) issued at
// now, valid for ttl.
func (ts tokenSigner) issue(userID, sessionID string, now time.Time, ttl time.Duration) (string, claims) {
	c := claims{UserID: userID, SessionID: sessionID, IssuedAt: now.Unix(), Expires: now.Add(ttl).Unix()}
	return ts.sign(c), c
}

func (ts tokenSigner) mac(payload string) []byte {
	m := hmac.New(sha256.New, ts.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// verify checks token's signature and expiry at now and returns what it
// says; any failure is errBadToken.
func (ts tokenSigner) verify(token string, now time.Time) (claims, error) {
	if len(token) > maxTokenLen {
		return claims{}, errBadToken
	}
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return claims{}, errBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, ts.mac(p)) {
		return claims{}, errBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return claims{}, errBadToken
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return claims{}, errBadToken
	}
	if c.UserID == "" || c.SessionID == "" || len(c.UserID) > maxTokenID || len(c.SessionID) > maxTokenID || c.Expires <= c.IssuedAt {
		return claims{}, errBadToken
	}
	if now.Unix() >= c.Expires {
		return claims{}, errBadToken
	}
	return c, nil
}
