// Package redisacl describes Redis ACL users (Redis 7 or later) and
// writes them in the forms Redis takes: ACL SETUSER commands, for any
// running Redis, and the lines of an ACL file, for a Redis started with
// aclfile. It knows nothing of streamcart's services; the users and their
// grants are made in one place by the caller (package app).
//
// A user may run a few connection commands (PING, SELECT, MULTI, EXEC,
// DISCARD, CLIENT SETNAME and ID) and, beyond that, only what its grants allow. Each grant is an
// ACL selector: a set of commands allowed on a set of keys and channels
// together. A user granted XADD on its own stream and XACK on another's
// may therefore not XADD to the other's: no one grant names both.
package redisacl

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Grant allows Commands on the keys matching Keys and the channels
// matching Channels (Redis glob patterns, without the "~" and "&" of ACL
// rules). A command that names no key or channel is allowed by any grant
// that lists it.
type Grant struct {
	// Commands are command names in lower case, with "|" before a
	// subcommand: "xadd", "xgroup|create".
	Commands []string
	Keys     []string
	Channels []string
}

// User is a Redis ACL user.
type User struct {
	Name string
	// Password is the user's password. Only its SHA-256 goes into the
	// rules, so the commands and files this package writes hold no
	// password.
	Password string
	// All allows every command on every key and channel: an
	// administrator, such as the default user of a managed Redis.
	All bool
	// Grants are what the user may do besides the connection commands.
	Grants []Grant
}

// connection are the commands every user may run on its own connection:
// go-redis sends PING for health checks and SELECT for a database other
// than 0, and wraps transactions in MULTI and EXEC; a client may name its
// connection and ask for its id. AUTH and HELLO need no permission. A
// Redis Cluster client reads the slots' map (CLUSTER SLOTS) and the
// commands' key positions (COMMAND), and follows a slot in migration
// (ASKING); on a single Redis it sends none of them.
var connection = []string{"ping", "select", "multi", "exec", "discard", "client|setname", "client|id", "cluster|slots", "command", "asking"}

// Validate reports what keeps u from being written as ACL rules.
func (u User) Validate() error {
	var errs []error
	if u.Name == "" || !plain(u.Name) {
		errs = append(errs, fmt.Errorf("user name %q is empty or has spaces, quotes or brackets", u.Name))
	}
	if u.Password == "" {
		errs = append(errs, fmt.Errorf("user %s has no password", u.Name))
	}
	for _, g := range u.Grants {
		if len(g.Commands) == 0 || len(g.Keys)+len(g.Channels) == 0 {
			errs = append(errs, fmt.Errorf("user %s: a grant needs commands and keys or channels", u.Name))
		}
		for _, s := range append(append(append([]string{}, g.Commands...), g.Keys...), g.Channels...) {
			if s == "" || !plain(s) {
				errs = append(errs, fmt.Errorf("user %s: %q is empty or has spaces, quotes or brackets", u.Name, s))
			}
		}
	}
	return errors.Join(errs...)
}

// plain reports whether s can stand in an ACL rule unquoted: no spaces,
// quotes, brackets or control characters.
func plain(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune(`"'()`, r)
	})
}

// Rules returns u's ACL rules, as ACL SETUSER takes them after the name.
// They start with "reset", so applying them replaces whatever the user
// had.
func (u User) Rules() []string {
	sum := sha256.Sum256([]byte(u.Password))
	rules := []string{"reset", "on", "#" + hex.EncodeToString(sum[:])}
	if u.All {
		return append(rules, "~*", "&*", "+@all")
	}
	for _, c := range connection {
		rules = append(rules, "+"+c)
	}
	for _, g := range u.Grants {
		parts := make([]string, 0, len(g.Commands)+len(g.Keys)+len(g.Channels))
		for _, c := range g.Commands {
			parts = append(parts, "+"+c)
		}
		for _, k := range g.Keys {
			parts = append(parts, "~"+k)
		}
		for _, c := range g.Channels {
			parts = append(parts, "&"+c)
		}
		rules = append(rules, "("+strings.Join(parts, " ")+")")
	}
	return rules
}

// SetUser returns the arguments of the ACL SETUSER command that creates
// or replaces u, for a client's Do.
func (u User) SetUser() []any {
	args := []any{"ACL", "SETUSER", u.Name}
	for _, r := range u.Rules() {
		args = append(args, r)
	}
	return args
}

// Command returns the ACL SETUSER command of u as one line for redis-cli,
// with each selector quoted.
func (u User) Command() string {
	var b strings.Builder
	b.WriteString("ACL SETUSER " + u.Name)
	for _, r := range u.Rules() {
		if strings.Contains(r, " ") {
			r = `"` + r + `"`
		}
		b.WriteString(" " + r)
	}
	return b.String()
}

// FileLine returns u as a line of a Redis ACL file (aclfile).
func (u User) FileLine() string {
	return "user " + u.Name + " " + strings.Join(u.Rules(), " ")
}

// File returns the content of a Redis ACL file (aclfile) holding the
// default user, an administrator with password admin, and users. A Redis
// started with it wants a password from every client.
func File(admin string, users []User) ([]byte, error) {
	var b strings.Builder
	lines := append([]User{{Name: "default", Password: admin, All: true}}, users...)
	for _, u := range lines {
		if err := u.Validate(); err != nil {
			return nil, err
		}
		b.WriteString(u.FileLine() + "\n")
	}
	return []byte(b.String()), nil
}

// URL returns base, a redis://, rediss:// or redis+cluster:// URL (a
// Redis Cluster's, see package redisclient), with u's name and password
// in it.
func (u User) URL(base string) (string, error) {
	p, err := url.Parse(base)
	if err != nil || (p.Scheme != "redis" && p.Scheme != "rediss" && p.Scheme != "redis+cluster") || p.Host == "" {
		return "", fmt.Errorf("redis URL %q is not a redis://, rediss:// or redis+cluster:// URL", base)
	}
	p.User = url.UserPassword(u.Name, u.Password)
	return p.String(), nil
}

// Literal returns a glob pattern that matches s and nothing else.
func Literal(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Prefix returns a glob pattern that matches every name starting with s.
func Prefix(s string) string { return Literal(s) + "*" }
