package main

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"streamcart/internal/platform/auth"
)

func TestTokenMintsAnIdentityTheServicesAccept(t *testing.T) {
	t.Parallel()
	key := []byte("token-test-secret-token-test-secret!")
	signer, err := auth.NewSigner(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want auth.Identity
	}{
		{nil, auth.Identity{Role: auth.RoleOperator, UserID: "operator"}},
		{[]string{"--as", "alice", "--ttl", "2h"}, auth.Identity{Role: auth.RoleOperator, UserID: "alice"}},
		{[]string{"--role", "shopper", "--as", "u-1"}, auth.Identity{Role: auth.RoleShopper, UserID: "u-1"}},
		{[]string{"--role", "reader"}, auth.Identity{Role: auth.RoleReader}},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		args := append([]string{"token", "--identity-secret", hex.EncodeToString(key)}, tt.args...)
		if err := run(cancelled(), args, &stdout, &stderr); err != nil {
			t.Errorf("streamcart %s: %v", strings.Join(args, " "), err)
			continue
		}
		got, err := signer.Verify(strings.TrimSpace(stdout.String()), time.Now())
		if err != nil || got.Role != tt.want.Role || got.UserID != tt.want.UserID {
			t.Errorf("streamcart %s: printed an identity %+v (%v), want %+v", strings.Join(args, " "), got, err, tt.want)
		}
		if !strings.Contains(stderr.String(), "valid until") {
			t.Errorf("streamcart %s: stderr %q does not say until when the token is valid", strings.Join(args, " "), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	args := []string{"token", "--identity-secret", hex.EncodeToString(key), "--ttl", "2h"}
	if err := run(cancelled(), args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Verify(strings.TrimSpace(stdout.String()), time.Now().Add(119*time.Minute)); err != nil {
		t.Errorf("a 2h token after 119 minutes: %v, want it valid", err)
	}
	if _, err := signer.Verify(strings.TrimSpace(stdout.String()), time.Now().Add(121*time.Minute)); err == nil {
		t.Errorf("a 2h token after 121 minutes is still valid")
	}
}

func TestTokenRefusesWhatTheServicesWouldNot(t *testing.T) {
	t.Parallel()
	secret := hex.EncodeToString([]byte("token-test-secret-token-test-secret!"))
	for _, args := range [][]string{
		{"token"},
		{"token", "--identity-secret", "abcd"},
		{"token", "--identity-secret", secret, "--ttl", "25h"},
		{"token", "--identity-secret", secret, "--ttl", "-1m"},
		{"token", "--identity-secret", secret, "--role", "admin"},
		{"token", "--identity-secret", secret, "--as", ""},
	} {
		var stdout, stderr bytes.Buffer
		err := run(cancelled(), args, &stdout, &stderr)
		if code := exitCode(err, &stderr); code != 2 || stdout.Len() > 0 {
			t.Errorf("streamcart %s: exit %d, stdout %q; want 2 and no token", strings.Join(args, " "), code, stdout.String())
		}
	}
}
