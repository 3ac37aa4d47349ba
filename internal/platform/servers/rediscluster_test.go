package servers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/redisacl"
)

func TestRedisClusterServesUsersOnEveryNodeAndFailsOverAndRestarts(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	writer := redisacl.User{Name: "writer", Password: "writer-pw", Grants: []redisacl.Grant{{Commands: []string{"set", "get"}, Keys: []string{"k:*"}}}}
	dir := testDir(t)
	opts := RedisClusterOptions{Dir: dir, AdminPassword: "admin-pw", Users: []redisacl.User{writer}}
	c := started(t, func(ctx context.Context) (*RedisCluster, error) { return StartRedisCluster(ctx, opts) })
	if got := len(c.Nodes()); got != 6 {
		t.Fatalf("%d nodes, want 3 primaries and 3 replicas", got)
	}
	u, err := c.UserURL("writer")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "redis+cluster://writer:writer-pw@127.0.0.1:") {
		t.Errorf("UserURL = %s", u)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.Nodes()[0].Addr()}, Username: "writer", Password: "writer-pw", MaxRedirects: 8})
	defer rdb.Close()
	// Keys in many slots reach every primary: the user exists on each.
	for i := range 30 {
		if err := rdb.Set(ctx, "k:"+string(rune('a'+i)), "v", 0).Err(); err != nil {
			t.Fatalf("SET as writer: %v", err)
		}
	}
	if err := rdb.Set(ctx, "other", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("SET other as writer: %v, want NOPERM", err)
	}

	primary, err := rdb.MasterForKey(ctx, "k:a")
	if err != nil {
		t.Fatal(err)
	}
	victim := c.Node(primary.Options().Addr)
	if victim == nil {
		t.Fatalf("no node at %s", primary.Options().Addr)
	}
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := rdb.Set(ctx, "k:a", "after", 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write to k:a within 30s of killing its primary: %v", err)
		}
		rdb.ReloadState(ctx)
		time.Sleep(100 * time.Millisecond) // the failover is the cluster's, on its own timer
	}

	// The old primary comes back as a replica; a start on the same Dir
	// finds the same cluster.
	if err := victim.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	again := started(t, func(ctx context.Context) (*RedisCluster, error) { return StartRedisCluster(ctx, opts) })
	if again.URL() != c.URL() {
		t.Errorf("restarted on the same Dir at %s, first at %s", again.URL(), c.URL())
	}
	if got, err := rdb.Get(ctx, "k:a").Result(); err != nil || got != "after" {
		t.Errorf("GET k:a after the restart = %q, %v", got, err)
	}
}
