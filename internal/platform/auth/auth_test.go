package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestSignVerify(t *testing.T) {
	s, err := NewSigner(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSigner([]byte(strings.Repeat("x", 32)), time.Minute)
	id := Identity{Role: RoleShopper, UserID: "u-1", SessionID: "s-1", IP: "127.0.0.1", UserAgent: "ua"}
	good := s.Sign(id)

	got, err := s.Verify(good, time.Now())
	if err != nil || got.Role != RoleShopper || got.UserID != "u-1" || got.SessionID != "s-1" || got.IP != "127.0.0.1" || got.UserAgent != "ua" {
		t.Fatalf("Verify(Sign(id)) = %+v, %v", got, err)
	}
	payload, sig, _ := strings.Cut(good, ".")
	forged := Identity{Role: RoleShopper, UserID: "u-2"}
	tests := []struct {
		name  string
		value string
		now   time.Time
		want  error
	}{
		{"missing", "", time.Now(), ErrMissing},
		{"no dot", "abc", time.Now(), ErrMalformed},
		{"other secret", other.Sign(id), time.Now(), ErrSignature},
		{"payload swapped", strings.Split(other.Sign(forged), ".")[0] + "." + sig, time.Now(), ErrSignature},
		{"signature cut", payload + "." + sig[:10], time.Now(), ErrSignature},
		{"expired", good, time.Now().Add(2 * time.Minute), ErrExpired},
		{"no role", s.Sign(Identity{UserID: "u-1"}), time.Now(), ErrMalformed},
		{"unknown role", s.Sign(Identity{Role: "admin", UserID: "u-1"}), time.Now(), ErrMalformed},
		{"shopper without a user", s.Sign(Identity{Role: RoleShopper}), time.Now(), ErrMalformed},
		{"operator without a name", s.Sign(Identity{Role: RoleOperator}), time.Now(), ErrMalformed},
		{"reader with a user", s.Sign(Identity{Role: RoleReader, UserID: "u-1"}), time.Now(), ErrMalformed},
		{"token expired", s.SignFor(Identity{Role: RoleOperator, UserID: "ops"}, time.Hour), time.Now().Add(61 * time.Minute), ErrExpired},
	}
	for _, tt := range tests {
		if _, err := s.Verify(tt.value, tt.now); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestNewSignerRejectsShortSecret(t *testing.T) {
	if _, err := NewSigner([]byte("short"), 0); err == nil {
		t.Error("NewSigner accepted a 5-byte secret")
	}
}

func TestRequire(t *testing.T) {
	s, _ := NewSigner(secret, time.Minute)
	h := s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		w.Write([]byte(id.UserID))
	}))
	for _, tt := range []struct {
		header string
		status int
		body   string
	}{
		{s.Sign(Identity{Role: RoleShopper, UserID: "u-9"}), 200, "u-9"},
		{s.Sign(Identity{Role: RoleReader}), 200, ""},
		{"", 401, "unauthenticated"},
		{"forged.value", 401, "unauthenticated"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			req.Header.Set(Header, tt.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("header %q: %d %q, want %d containing %q", tt.header, rec.Code, rec.Body.String(), tt.status, tt.body)
		}
	}
}

func TestSignForOutlivesTheSignersTTL(t *testing.T) {
	s, _ := NewSigner(secret, time.Minute)
	token := s.SignFor(Identity{Role: RoleOperator, UserID: "ops-alice"}, time.Hour)
	if id, err := s.Verify(token, time.Now().Add(59*time.Minute)); err != nil || id.Role != RoleOperator || id.UserID != "ops-alice" {
		t.Errorf("an hour's token after 59 minutes: %+v, %v; want the operator", id, err)
	}
}

// A derived key is the same for the same secret and label, and differs
// from the secret and from the keys of other labels and other secrets.
func TestDeriveKeyIsOneKeyPerSecretAndLabel(t *testing.T) {
	s, _ := NewSigner(secret, time.Minute)
	again, _ := NewSigner(secret, time.Hour)
	other, _ := NewSigner([]byte(strings.Repeat("x", 32)), time.Minute)
	a := s.DeriveKey("label a")
	if string(a) != string(again.DeriveKey("label a")) {
		t.Error("the same secret and label derived different keys")
	}
	if len(a) < 32 {
		t.Errorf("derived key of %d bytes, want at least 32", len(a))
	}
	for name, k := range map[string][]byte{"the secret": secret, "another label": s.DeriveKey("label b"), "another secret": other.DeriveKey("label a")} {
		if string(a) == string(k) {
			t.Errorf("derived key equals %s", name)
		}
	}
}
