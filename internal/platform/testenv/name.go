package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// Name returns a name no other call returns, for a stream, consumer group,
// key or database: prefix, the test's name in lowercase letters, digits and
// dashes (at most 40 bytes of it), and 8 random hex digits, joined by "-".
// For example Name(t, "orders") in TestPlace/paid returns something like
// "orders-testplace-paid-3f9a02c1". With a prefix of up to 12 bytes the
// result fits a PostgreSQL identifier (63 bytes).
func Name(t testing.TB, prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	return prefix + "-" + sanitize(t.Name(), 40) + "-" + hex.EncodeToString(b[:])
}

// sanitize lowercases s, turns every run of other characters than a-z and
// 0-9 into one dash, trims dashes and keeps at most max bytes.
func sanitize(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		} else {
			dash = true
		}
	}
	out := b.String()
	if len(out) > max {
		out = strings.TrimRight(out[:max], "-")
	}
	if out == "" {
		out = "test"
	}
	return out
}
