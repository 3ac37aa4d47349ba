package gateway

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// A token says whose session it is until it expires; a token changed in
// any way, signed under another secret or past its expiry says nothing.
func TestSessionTokenVerifiesOnlyUnchangedUnexpiredTokensOfItsKey(t *testing.T) {
	t.Parallel()
	ts := newTokenSigner(testSigner(t))
	now := time.Now()
	token, want := ts.issue("u-1", "s-1", now, time.Hour)
	got, err := ts.verify(token, now.Add(59*time.Minute))
	if err != nil || got != want || got.UserID != "u-1" || got.SessionID != "s-1" || got.Expires-got.IssuedAt != 3600 {
		t.Fatalf("verify(issue) = %+v, %v; want %+v", got, err, want)
	}
	payload, sig, _ := strings.Cut(token, ".")
	other, _ := ts.issue("u-2", "s-1", now, time.Hour)
	otherPayload, _, _ := strings.Cut(other, ".")
	foreign, _ := newTokenSigner(testSigner(t)).issue("u-1", "s-1", now, time.Hour)
	noUser := ts.sign(claims{SessionID: "s-1", IssuedAt: now.Unix(), Expires: now.Unix() + 60})
	backwards := ts.sign(claims{UserID: "u-1", SessionID: "s-1", IssuedAt: now.Unix(), Expires: now.Unix()})
	long := ts.sign(claims{UserID: strings.Repeat("u", 65), SessionID: "s-1", IssuedAt: now.Unix(), Expires: now.Unix() + 60})
	notJSON := base64.RawURLEncoding.EncodeToString([]byte("u-1"))
	tests := []struct {
		name, token string
		at          time.Time
	}{
		{"expired", token, now.Add(time.Hour)},
		{"payload of another token", otherPayload + "." + sig, now},
		{"signature cut", payload + "." + sig[:20], now},
		{"signature not base64", payload + ".!!", now},
		{"no signature", payload, now},
		{"empty", "", now},
		{"another secret", foreign, now},
		{"no user", noUser, now},
		{"expires when issued", backwards, now},
		{"user id too long", long, now},
		{"payload not JSON", notJSON + "." + base64.RawURLEncoding.EncodeToString(ts.mac(notJSON)), now},
		{"too long", token + strings.Repeat("A", maxTokenLen), now},
	}
	for _, tt := range tests {
		if c, err := ts.verify(tt.token, tt.at); err == nil {
			t.Errorf("%s: verify = %+v, want an error", tt.name, c)
		}
	}
}
