package redisacl

import (
	"strings"
	"testing"
)

func TestLiteralMatchesOnlyItself(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"ORDERS_STREAM", "ORDERS_STREAM"},
		{"a*b?c[d]e\\f", `a\*b\?c\[d\]e\\f`},
	}
	for _, tt := range tests {
		if got := Literal(tt.in); got != tt.want {
			t.Errorf("Literal(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Prefix("gateway:"); got != "gateway:*" {
		t.Errorf("Prefix(gateway:) = %q", got)
	}
}

func TestRulesHoldNoPasswordAndOneSelectorPerGrant(t *testing.T) {
	t.Parallel()
	u := User{Name: "payments", Password: "s3cret", Grants: []Grant{
		{Commands: []string{"xadd"}, Keys: []string{"PAYMENTS_STREAM"}},
		{Commands: []string{"publish"}, Channels: []string{"updates:*"}},
	}}
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	got := u.Command()
	for _, part := range []string{"ACL SETUSER payments reset on #", `"(+xadd ~PAYMENTS_STREAM)"`, `"(+publish &updates:*)"`, "+ping"} {
		if !strings.Contains(got, part) {
			t.Errorf("Command() = %s\nwant it to contain %s", got, part)
		}
	}
	if strings.Contains(got, "s3cret") || strings.Contains(u.FileLine(), "s3cret") {
		t.Errorf("the rules show the password: %s", got)
	}
	if !strings.HasPrefix(u.FileLine(), "user payments reset on #") {
		t.Errorf("FileLine() = %s", u.FileLine())
	}
	url, err := u.URL("redis://127.0.0.1:6379/0")
	if err != nil || url != "redis://payments:s3cret@127.0.0.1:6379/0" {
		t.Errorf("URL = %q, %v", url, err)
	}
	url, err = u.URL("redis+cluster://a:1,b:2/")
	if err != nil || url != "redis+cluster://payments:s3cret@a:1,b:2/" {
		t.Errorf("URL of a cluster = %q, %v", url, err)
	}
}

func TestValidateRefusesWhatCannotBeARule(t *testing.T) {
	t.Parallel()
	for name, u := range map[string]User{
		"no password":        {Name: "u", Grants: []Grant{{Commands: []string{"get"}, Keys: []string{"k"}}}},
		"name with a space":  {Name: "a b", Password: "p"},
		"key with a space":   {Name: "u", Password: "p", Grants: []Grant{{Commands: []string{"get"}, Keys: []string{"a b"}}}},
		"key with a bracket": {Name: "u", Password: "p", Grants: []Grant{{Commands: []string{"get"}, Keys: []string{"a)"}}}},
		"grant without keys": {Name: "u", Password: "p", Grants: []Grant{{Commands: []string{"get"}}}},
		"empty key":          {Name: "u", Password: "p", Grants: []Grant{{Commands: []string{"get"}, Keys: []string{""}}}},
	} {
		if err := u.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", name)
		}
	}
}
