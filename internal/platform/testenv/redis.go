package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/servers"
)

// RedisURL returns the URL of the shared Redis server: $REDIS_URL if set,
// else a redis-server started on first use.
func RedisURL(t testing.TB) string {
	t.Helper()
	base := shared.baseDir(t)
	return shared.redis.get(t, "REDIS_URL", func(ctx context.Context) (*servers.Redis, string, error) {
		r, err := servers.StartRedis(ctx, servers.RedisOptions{Dir: filepath.Join(base, "redis")})
		if err != nil {
			return nil, "", err
		}
		return r, r.URL(), nil
	})
}

// Redis returns a client of the shared Redis server, closed when t ends.
// Tests share the server's keyspace, so keys, streams and groups should be
// named with Name.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}
