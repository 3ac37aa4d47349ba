package testenv

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/redisclient"
)

// RedisURL returns the URL of the shared Redis server: $REDIS_URL if set,
// else a redis-server started on first use.
func RedisURL(t testing.TB) string {
	t.Helper()
	return shared.redis.get(t, shared.baseDir(t))
}

// Redis returns a client of the shared Redis server, closed when t ends.
// Tests share the server's keyspace, so keys, streams and groups should be
// named with Name.
func Redis(t testing.TB) redis.UniversalClient {
	t.Helper()
	return RedisAt(t, RedisURL(t))
}

// RedisCluster returns a client of the shared Redis Cluster, closed when
// t ends: $REDIS_CLUSTER_URL (redisclient.ClusterScheme) if set, else a
// cluster of six redis-server processes (three primaries, a replica each)
// started on first use. As with Redis, tests share its keyspace.
func RedisCluster(t testing.TB) redis.UniversalClient {
	t.Helper()
	return RedisAt(t, shared.cluster.get(t, shared.baseDir(t)))
}

// RedisAt returns a client of the Redis server at url, such as an
// OwnRedis's URL or a user's, or of the Redis Cluster at a cluster URL,
// closed when t ends.
func RedisAt(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if redisclient.IsClusterURL(url) {
		opts, err := redisclient.ParseClusterURL(url)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		c = redis.NewClusterClient(opts)
	} else {
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		c = redis.NewClient(opts)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// DeadRedis returns a client of DeadAddr, a Redis server that is down,
// closed when t ends.
func DeadRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: DeadAddr(t)})
	t.Cleanup(func() { c.Close() })
	return c
}
