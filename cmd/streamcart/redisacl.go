package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"

	"streamcart/internal/app"
	"streamcart/internal/platform/redisacl"
)

const redisACLUsage = `usage: streamcart redis-acl [flags]

Print the Redis ACL users of a deployment (Redis 7 or later): one per
service and one for the operations page, each allowed only what its code
does. Standard output gets one ACL SETUSER command per user, holding
password hashes only, to run as an admin:

  streamcart redis-acl --redis-url redis://redis.internal:6379/0 2>urls.txt |
    redis-cli -u redis://default:ADMIN-PASSWORD@redis.internal:6379/0

Standard error gets each user's Redis URL, password included, for the
--redis-url of its service (--ops-redis-url of the gateway). A password
not given is made up at random. With --format aclfile, standard output
is the lines of an ACL file (the aclfile directive) instead; add a line
for the default (admin) user to it.`

// runRedisACL prints the Redis users of app.RedisUsers, so that the
// documentation, "streamcart dev" and a deployment's Redis use the same
// rules.
func runRedisACL(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart redis-acl", flag.ContinueOnError)
	base := fs.String("redis-url", "redis://127.0.0.1:6379/0", "the Redis the URLs printed point to (without credentials)")
	partitions := streamPartitionsFlag(fs)
	format := fs.String("format", "commands", "commands (ACL SETUSER, for redis-cli) or aclfile (lines of an ACL file)")
	passwords := map[string]*string{}
	for _, name := range app.RedisUserNames {
		passwords[name] = fs.String(name+"-password", "", "password of the Redis user "+name+" (empty: a random one)")
	}
	if err := parseFlags(fs, "STREAMCART", redisACLUsage, args, stdout, stderr); err != nil {
		return err
	}
	if *format != "commands" && *format != "aclfile" {
		writeFlagsUsage(stderr, fs, "STREAMCART", redisACLUsage)
		return usageErrorf("--format %q: want commands or aclfile", *format)
	}
	given := map[string]string{}
	for name, p := range passwords {
		given[name] = *p
		if given[name] == "" {
			var b [24]byte
			_, _ = rand.Read(b[:])
			given[name] = hex.EncodeToString(b[:])
		}
	}
	names := app.DefaultRedisNames()
	names.StreamPartitions = *partitions
	users, err := app.RedisUsers(names, given)
	if err != nil {
		return err
	}
	urls := make([]string, len(users))
	for i, u := range users {
		if urls[i], err = u.URL(*base); err != nil {
			writeFlagsUsage(stderr, fs, "STREAMCART", redisACLUsage)
			return usageErrorf("--redis-url: %v", err)
		}
	}
	for _, u := range users {
		fmt.Fprintln(stdout, line(u, *format))
	}
	fmt.Fprintln(stderr, "# The Redis URL of each user (secret: give each to its service only):")
	for i, u := range users {
		fmt.Fprintf(stderr, "%-13s %s\n", u.Name+":", urls[i])
	}
	return nil
}

func line(u redisacl.User, format string) string {
	if format == "aclfile" {
		return u.FileLine()
	}
	return u.Command()
}
