package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"

	"streamcart/internal/app"
	"streamcart/internal/platform/redisacl"
)

const secretsUsage = `usage: streamcart secrets --dir DIR [flags]

Make the secrets of a deployment in DIR: a directory per service holding
only what that service needs, one file per flag it sets (give it to the
service as STREAMCART_<FLAG>_FILE), and what Redis and PostgreSQL need:

  DIR/<service>/redis-url, database-url, identity-secret   every service
  DIR/gateway/ops-redis-url, operator-token                the gateway's /ops
  DIR/migrate/database-url                                 streamcart migrate
  DIR/scaler/redis-password                                the autoscaler's Redis user
  DIR/redis/users.acl, admin-password                      redis-server --aclfile
  DIR/postgres/password                                    the database's password

The secrets themselves (identity secret, operator token, passwords) are
made at random the first time and kept in DIR/source, readable by their
owner only; a later run keeps them and writes the rest again from them,
so that the ACL file has the rules of the version that runs. The files
outside DIR/source are readable by anyone (a container reads them as
another user): keep DIR itself closed, or give each directory only to
its own container, as deploy/compose does.`

// runSecrets writes the secrets of a deployment (secretsUsage), keeping
// the ones DIR already has.
func runSecrets(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart secrets", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory to write to (required)")
	redisBase := fs.String("redis-url", "redis://redis:6379/0", "the Redis URL of the services, without credentials")
	databaseBase := fs.String("database-url", "postgres://streamcart@postgres:5432/streamcart?sslmode=disable", "the PostgreSQL URL of the services, with its user and without a password")
	partitions := streamPartitionsFlag(fs)
	if err := parseFlags(fs, "STREAMCART", secretsUsage, args, stdout, stderr); err != nil {
		return err
	}
	if *dir == "" {
		writeFlagsUsage(stderr, fs, "STREAMCART", secretsUsage)
		return usageErrorf("--dir is required")
	}
	db, err := url.Parse(*databaseBase)
	if err != nil || (db.Scheme != "postgres" && db.Scheme != "postgresql") || db.User == nil || db.User.Username() == "" {
		return usageErrorf("--database-url %q: want a postgres:// URL with a user name", *databaseBase)
	}
	if _, has := db.User.Password(); has {
		return usageErrorf("--database-url: give it without a password; the password is made here")
	}

	source := &secretSource{dir: filepath.Join(*dir, "source")}
	if err := os.MkdirAll(source.dir, 0o700); err != nil {
		return err
	}
	identitySecret := source.get("identity-secret", 32)
	operatorToken := source.get("operator-token", 32)
	pgPassword := source.get("postgres-password", 24)
	admin := source.get("redis-admin-password", 24)
	passwords := map[string]string{}
	for _, name := range app.RedisUserNames {
		passwords[name] = source.get("redis-"+name+"-password", 24)
	}
	if source.err != nil {
		return source.err
	}
	redisNames := app.DefaultRedisNames()
	redisNames.StreamPartitions = *partitions
	users, err := app.RedisUsers(redisNames, passwords)
	if err != nil {
		return err
	}
	acl, err := redisacl.File(admin, users)
	if err != nil {
		return err
	}
	redisURLs := map[string]string{}
	for _, u := range users {
		if redisURLs[u.Name], err = u.URL(*redisBase); err != nil {
			return usageErrorf("--redis-url: %v", err)
		}
	}
	db.User = url.UserPassword(db.User.Username(), pgPassword)
	databaseURL := db.String()

	files := map[string]string{
		"redis/users.acl":        string(acl),
		"redis/admin-password":   admin,
		"postgres/password":      pgPassword,
		"migrate/database-url":   databaseURL,
		"scaler/redis-password":  passwords[app.Scaler],
		"gateway/ops-redis-url":  redisURLs[app.Ops],
		"gateway/operator-token": operatorToken,
	}
	for _, s := range app.Services {
		files[s+"/redis-url"] = redisURLs[s]
		files[s+"/database-url"] = databaseURL
		files[s+"/identity-secret"] = identitySecret
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		content := files[name]
		if name != "redis/users.acl" {
			content += "\n"
		}
		if err := writeReadable(filepath.Join(*dir, name), content); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "secrets in %s: %d files; the operator token of /ops is in %s\n",
		*dir, len(names), filepath.Join(*dir, "gateway", "operator-token"))
	return nil
}

// writeReadable writes content to path, readable by anyone and replaced at
// once (a reader never sees half of it), making its directory if needed.
func writeReadable(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // left by a run that failed: read-only
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	// WriteFile's mode is reduced by the umask; the reader may be
	// another user.
	if err := os.Chmod(tmp, 0o444); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// secretSource reads the secrets kept in dir, making each missing one; the
// first error stays in err, and get returns "" after it.
type secretSource struct {
	dir string
	err error
}

// get returns the secret called name, first making one of n random bytes
// (hex) when there is none.
func (s *secretSource) get(name string, n int) string {
	if s.err != nil {
		return ""
	}
	v, err := readOrCreateSecret(filepath.Join(s.dir, name), n)
	s.err = err
	return v
}
