package gateway

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/platform/redisclient"
	"streamcart/internal/platform/testenv"
)

// shardSubscribers returns how many connections SSUBSCRIBE channel on
// its slot's primary.
func shardSubscribers(t *testing.T, rdb redis.UniversalClient, channel string) int64 {
	t.Helper()
	primary, err := rdb.(*redis.ClusterClient).MasterForKey(t.Context(), channel)
	if err != nil {
		t.Fatal(err)
	}
	return primary.PubSubShardNumSub(t.Context(), channel).Val()[channel]
}

// received returns the next message of s, failing the test after a
// while.
func received(t *testing.T, s *subscriber) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
		return ""
	}
}

// record is an order update of userID.
func record(userID, what string) string {
	return fmt.Sprintf(`{"orderId":%q,"userId":%q}`, what, userID)
}

func TestHubOnRedisClusterSubscribesEachBucketWhileItHasStreams(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisCluster(t)
	h := newHub(rdb, testenv.Logger(t))
	if !h.cluster {
		t.Fatal("the hub does not see a cluster")
	}
	// Channels of this test's own, so that no other hub on the shared
	// cluster subscribes them.
	prefix := testenv.Name(t, "updates") + ":{model}:"
	h.channelOf = func(userID string) string { return prefix + strconv.Itoa(events.OrderUpdateBucket(userID)) }
	h.linger = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	h.start(ctx)
	t.Cleanup(func() { cancel(); h.close() })

	u1 := testenv.Name(t, "u1")
	u2 := testenv.Name(t, "u2")
	for events.OrderUpdateBucket(u2) == events.OrderUpdateBucket(u1) {
		u2 += "x"
	}
	u3 := sameBucket(t, u1)
	mine, theirs := h.channelOf(u1), h.channelOf(u2)
	subscribe := func(userID string) *subscriber {
		t.Helper()
		s, err := h.subscribe(ctx, userID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, c, d := subscribe(u1), subscribe(u1), subscribe(u2), subscribe(u3)
	// One subscription per bucket, however many streams and users it has.
	if n := shardSubscribers(t, rdb, mine); n != 1 {
		t.Errorf("%d subscriptions of %s, want 1", n, mine)
	}
	rdb.SPublish(ctx, theirs, record(u2, "theirs"))
	rdb.SPublish(ctx, mine, record(u3, "neighbour's"))
	rdb.SPublish(ctx, mine, record(u1, "mine"))
	for _, s := range []*subscriber{a, b} {
		if got := received(t, s); got != record(u1, "mine") {
			t.Errorf("got %q, want mine", got)
		}
	}
	if got := received(t, c); got != record(u2, "theirs") {
		t.Errorf("got %q, want theirs", got)
	}
	if got := received(t, d); got != record(u3, "neighbour's") {
		t.Errorf("got %q, want the neighbour's", got)
	}
	h.unsubscribe(d)

	// The last stream of a bucket unsubscribes it a while later; one
	// opened right after it gets what is published once subscribe
	// returned, however quickly the user comes and goes.
	h.unsubscribe(a)
	if n := shardSubscribers(t, rdb, mine); n != 1 {
		t.Errorf("%d subscriptions of %s with a stream open, want 1", n, mine)
	}
	h.unsubscribe(b)
	testenv.WaitFor(t, 10*time.Second, "the unsubscription", func() bool { return shardSubscribers(t, rdb, mine) == 0 })
	for i := range 20 {
		s := subscribe(u1)
		msg := record(u1, "again "+string(rune('a'+i)))
		rdb.SPublish(ctx, mine, msg)
		if got := received(t, s); got != msg {
			t.Fatalf("got %q, want %q", got, msg)
		}
		h.unsubscribe(s)
		if i%2 == 0 {
			// Past the linger, sometimes.
			testenv.WaitFor(t, 10*time.Second, "the unsubscription", func() bool { return shardSubscribers(t, rdb, mine) == 0 })
		}
	}
	h.unsubscribe(c)
	testenv.WaitFor(t, 10*time.Second, "no subscription left", func() bool {
		return shardSubscribers(t, rdb, mine)+shardSubscribers(t, rdb, theirs) == 0
	})
}

// TestHubOnRedisClusterFollowsItsChannelThroughAFailover has the primary
// of a user's channel hand over to its replica (CLUSTER FAILOVER), which
// may unsubscribe the slot's channels: the hub's stream gets the updates
// published after it, without opening again.
func TestHubOnRedisClusterFollowsItsChannelThroughAFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster of its own and a failover take about ten seconds")
	}
	t.Parallel()
	rc := testenv.OwnRedisCluster(t, "")
	rdb := testenv.RedisAt(t, rc.URL())
	cc := rdb.(*redis.ClusterClient)
	h := newHub(rdb, testenv.Logger(t))
	ctx, cancel := context.WithCancel(t.Context())
	h.start(ctx)
	t.Cleanup(func() { cancel(); h.close() })
	channel := events.OrderUpdatesChannel("u1")
	s, err := h.subscribe(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	// delivered publishes what until the stream gets it.
	delivered := func(what string) {
		t.Helper()
		start := time.Now()
		testenv.WaitFor(t, 60*time.Second, "an update "+what, func() bool {
			rdb.SPublish(ctx, channel, record("u1", what)) // fails while the slot has no primary
			select {
			case m := <-s.msgs:
				return m == record("u1", what)
			case <-s.lagged:
				t.Fatal("the stream fell behind")
			case <-time.After(200 * time.Millisecond):
			}
			return false
		})
		t.Logf("update %s delivered after %v", what, time.Since(start).Round(time.Millisecond))
	}
	// nodes returns the addresses of the primary and a replica of the
	// channel's slot, as the cluster says now.
	nodes := func() (primary, replica string) {
		t.Helper()
		testenv.WaitFor(t, 60*time.Second, "a primary and a replica of the channel's slot", func() bool {
			slots, err := cc.ClusterSlots(ctx).Result()
			if err != nil {
				return false
			}
			slot := redisclient.Slot(channel)
			for _, r := range slots {
				if int(r.Start) <= slot && slot <= int(r.End) && len(r.Nodes) > 1 {
					primary, replica = r.Nodes[0].Addr, r.Nodes[1].Addr
					return true
				}
			}
			return false
		})
		return primary, replica
	}
	delivered("before")

	_, replica := nodes()
	u, err := url.Parse(rc.URL())
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	node := redis.NewClient(&redis.Options{Addr: replica, Username: u.User.Username(), Password: password})
	defer node.Close()
	if err := node.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 60*time.Second, "the replica to take over", func() bool {
		primary, _ := nodes()
		return primary == replica
	})
	delivered("after a planned failover")

}
