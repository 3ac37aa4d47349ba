package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/servers"
)

// RedisURL returns the URL of the shared Redis server: $REDIS_URL if set,
// else a redis-server started on first use.
func RedisURL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return url
	}
	h := &shared
	base := h.baseDir(t)
	h.redisOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		h.redis, h.redisErr = servers.StartRedis(ctx, servers.RedisOptions{Dir: filepath.Join(base, "redis")})
		if h.redisErr == nil {
			h.redisURL = h.redis.URL()
		}
	})
	if h.redisErr != nil {
		failStart(t, h.redisErr)
	}
	return h.redisURL
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
