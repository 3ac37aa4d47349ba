package main

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"streamcart/internal/app"
)

func TestSecretsGivesEachServiceOnlyItsOwnAndKeepsThemAcrossRuns(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "secrets")
	args := []string{"secrets", "--dir", dir, "--redis-url", "redis://redis.internal:6379/0",
		"--database-url", "postgres://shop@db.internal:5432/shop?sslmode=disable"}
	var stdout, stderr bytes.Buffer
	if err := run(cancelled(), args, &stdout, &stderr); err != nil {
		t.Fatalf("secrets: %v\n%s", err, stderr.String())
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := map[string]string{}
	for _, name := range []string{"payments/redis-url", "payments/identity-secret", "gateway/operator-token", "redis/users.acl", "postgres/password"} {
		first[name] = read(name)
	}
	if err := run(cancelled(), args, &stdout, &stderr); err != nil {
		t.Fatalf("secrets, again: %v\n%s", err, stderr.String())
	}
	for name, was := range first {
		if got := read(name); got != was {
			t.Errorf("%s changed on the second run:\n%s\nwant\n%s", name, got, was)
		}
	}

	for _, service := range app.Services {
		want := []string{"database-url", "identity-secret", "redis-url"}
		if service == app.Gateway {
			want = []string{"database-url", "identity-secret", "operator-token", "ops-redis-url", "redis-url"}
		}
		if got := dirNames(t, filepath.Join(dir, service)); !slices.Equal(got, want) {
			t.Errorf("%s has %v, want %v", service, got, want)
		}
		u, err := url.Parse(strings.TrimSpace(read(service + "/redis-url")))
		if err != nil || u.User.Username() != service || u.Host != "redis.internal:6379" {
			t.Errorf("%s/redis-url is not its own Redis user's URL (%v)", service, err)
		}
		if read(service+"/identity-secret") != read("payments/identity-secret") {
			t.Errorf("%s has another identity secret than payments", service)
		}
	}
	ops, _ := url.Parse(strings.TrimSpace(read("gateway/ops-redis-url")))
	if ops == nil || ops.User.Username() != app.Ops {
		t.Errorf("gateway/ops-redis-url is not the ops user's: %v", ops)
	}
	db, err := url.Parse(strings.TrimSpace(read("migrate/database-url")))
	if pw, _ := db.User.Password(); err != nil || db.User.Username() != "shop" || pw != strings.TrimSpace(read("postgres/password")) || db.Host != "db.internal:5432" {
		t.Errorf("migrate/database-url %v does not have postgres/password (%v)", db.Redacted(), err)
	}
	acl := read("redis/users.acl")
	for _, name := range append([]string{"default"}, app.RedisUserNames...) {
		if !strings.Contains(acl, "user "+name+" reset on #") {
			t.Errorf("users.acl has no user %s:\n%s", name, acl)
		}
	}
	if strings.Contains(acl, strings.TrimSpace(read("scaler/redis-password"))) {
		t.Errorf("users.acl holds a password, not only its hash")
	}
	for _, name := range []string{"payments/redis-url", "redis/users.acl"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o444 {
			t.Errorf("%s: mode %v (%v), want 0444: its container reads it as another user", name, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "source")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("source: mode %v (%v), want 0700", fi.Mode(), err)
	}
	if strings.Contains(stdout.String(), strings.TrimSpace(read("gateway/operator-token"))) {
		t.Errorf("stdout shows the operator token: %s", stdout.String())
	}
}

func TestSecretsRefusesADatabaseURLWithAPasswordOrWithoutAUser(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"postgres://u:pw@db/x", "postgres://db/x", "mysql://u@db/x"} {
		var stdout, stderr bytes.Buffer
		err := run(cancelled(), []string{"secrets", "--dir", t.TempDir(), "--database-url", db}, &stdout, &stderr)
		if !errors.As(err, new(usageError)) {
			t.Errorf("secrets --database-url %s: %v, want a usage error", db, err)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
