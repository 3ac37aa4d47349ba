package redisclient_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/redisclient"
	"streamcart/internal/platform/testenv"
)

func TestIsUnavailableTellsOutagesFromCommandErrors(t *testing.T) {
	ctx := context.Background()
	srv := testenv.OwnRedis(t, "")
	rdb := open(t, srv.URL())

	key := testenv.Name(t, "k")
	if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	wrongType := rdb.LPush(ctx, key, "x").Err()
	if wrongType == nil || redisclient.IsUnavailable(wrongType) {
		t.Errorf("a WRONGTYPE reply (%v) counts as an outage", wrongType)
	}
	if redisclient.IsUnavailable(nil) || redisclient.IsUnavailable(errors.New("boom")) {
		t.Error("nil or an unrelated error counts as an outage")
	}

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	down := rdb.Get(ctx, key).Err()
	if !redisclient.IsUnavailable(down) {
		t.Errorf("with the server killed, %v does not count as an outage", down)
	}
	closed := rdb.Close()
	if closed != nil {
		t.Fatal(closed)
	}
	if err := rdb.Get(ctx, key).Err(); !redisclient.IsUnavailable(err) {
		t.Errorf("a closed client's %v does not count as an outage", err)
	}
}

// The slots of the examples in the Redis Cluster specification.
func TestSlot(t *testing.T) {
	for key, want := range map[string]int{
		"123456789":             0x31C3,
		"foo":                   12182,
		"{user1000}.following":  redisclient.Slot("user1000"),
		"foo{}{bar}":            redisclient.Slot("foo{}{bar}"),
		"foo{{bar}}zap":         redisclient.Slot("{bar"),
		"foo{bar}{zap}":         redisclient.Slot("bar"),
		"orderhistory:{u1}:o:1": redisclient.Slot("u1"),
	} {
		if got := redisclient.Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestParseClusterURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url       string
		wantAddrs []string
		wantUser  string
		wantErr   string
	}{
		{url: "redis+cluster://127.0.0.1:7000/", wantAddrs: []string{"127.0.0.1:7000"}},
		{url: "redis+cluster://app:s%40cret@a:1,b:2,c:3/0", wantAddrs: []string{"a:1", "b:2", "c:3"}, wantUser: "app"},
		{url: "redis+cluster://a:1,b:2", wantAddrs: []string{"a:1", "b:2"}},
		{url: "redis+cluster:///", wantErr: "no host:port"},
		{url: "redis+cluster://a:1,b/", wantErr: `"b" is not host:port`},
		{url: "redis+cluster://a:1,/", wantErr: `"" is not host:port`},
		{url: "redis+cluster://a:1/2", wantErr: "database 0 only"},
		{url: "redis+cluster://a:1/?read_timeout=1s", wantErr: "query options"},
		{url: "redis://a:1/0", wantErr: "is not redis+cluster"},
	}
	for _, tt := range tests {
		opt, err := redisclient.ParseClusterURL(tt.url)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseClusterURL(%q) error = %v, want one containing %q", tt.url, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseClusterURL(%q): %v", tt.url, err)
			continue
		}
		if !slices.Equal(opt.Addrs, tt.wantAddrs) || opt.Username != tt.wantUser {
			t.Errorf("ParseClusterURL(%q) = addrs %v user %q, want %v %q", tt.url, opt.Addrs, opt.Username, tt.wantAddrs, tt.wantUser)
		}
		if tt.wantUser != "" && opt.Password != "s@cret" {
			t.Errorf("ParseClusterURL(%q) password = %q, want the unescaped one", tt.url, opt.Password)
		}
	}
	if _, err := redisclient.Open(t.Context(), "redis+cluster://a:1,b/"); err == nil || !strings.Contains(err.Error(), "not host:port") {
		t.Errorf("Open of a bad cluster URL: %v", err)
	}
}

func TestClusterFailoverErrorsAreUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := testenv.OwnRedisCluster(t, "")
	rdb := open(t, c.URL())
	cluster, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("Open(%s) = %T, want a *redis.ClusterClient", c.URL(), rdb)
	}
	key := testenv.Name(t, "k")
	if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// A cross-slot command is a problem with the command, not an outage.
	other := testenv.Name(t, "other")
	if err := rdb.Do(ctx, "MSET", key, "1", other, "2").Err(); err == nil || redisclient.IsUnavailable(err) {
		t.Errorf("a CROSSSLOT reply (%v) counts as an outage", err)
	}
	primary, err := cluster.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Node(primary.Options().Addr).Kill(); err != nil {
		t.Fatal(err)
	}
	// Until the replica takes over, the key's slot is unreachable.
	down := rdb.Get(ctx, key).Err()
	if !redisclient.IsUnavailable(down) {
		t.Errorf("with the key's primary killed, %v does not count as an outage", down)
	}
	for _, err := range []error{
		redis.ErrPoolTimeout,
		errors.New("CLUSTERDOWN The cluster is down"),
		errors.New("TRYAGAIN Multiple keys request during rehashing of slot"),
		errors.New("MOVED 3999 127.0.0.1:6381"),
		errors.New("READONLY You can't write against a read only replica."),
	} {
		if !redisclient.IsUnavailable(err) {
			t.Errorf("%v does not count as an outage", err)
		}
	}
	testenv.WaitFor(t, 30*time.Second, "a write to the key once its replica took over", func() bool {
		return rdb.Set(ctx, key, "w", 0).Err() == nil
	})
	if err := redisclient.Ping(rdb)(ctx); err != nil {
		t.Errorf("readiness after the failover: %v", err)
	}
}

// open opens a client of url for the length of the test.
func open(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	rdb, err := redisclient.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
