package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
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

func TestHubOnRedisClusterSubscribesEachUserWhileItHasStreams(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisCluster(t)
	h := newHub(rdb, testenv.Logger(t))
	if !h.cluster {
		t.Fatal("the hub does not see a cluster")
	}
	ctx, cancel := context.WithCancel(t.Context())
	h.start(ctx)
	t.Cleanup(func() { cancel(); h.close() })

	mine, theirs := events.OrderUpdatesChannel(testenv.Name(t, "u1")), events.OrderUpdatesChannel(testenv.Name(t, "u2"))
	a, err := h.subscribe(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.subscribe(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.subscribe(ctx, theirs)
	if err != nil {
		t.Fatal(err)
	}
	// One subscription per user, however many streams it has.
	if n := shardSubscribers(t, rdb, mine); n != 1 {
		t.Errorf("%d subscriptions of %s, want 1", n, mine)
	}
	rdb.SPublish(ctx, theirs, "theirs")
	rdb.SPublish(ctx, mine, "mine")
	for _, s := range []*subscriber{a, b} {
		if got := received(t, s); got != "mine" {
			t.Errorf("got %q, want mine", got)
		}
	}
	if got := received(t, c); got != "theirs" {
		t.Errorf("got %q, want theirs", got)
	}

	// The last stream of a user unsubscribes; one opened right after it
	// gets what is published once subscribe returned, however quickly
	// the user comes and goes.
	h.unsubscribe(mine, a)
	if n := shardSubscribers(t, rdb, mine); n != 1 {
		t.Errorf("%d subscriptions of %s with a stream open, want 1", n, mine)
	}
	h.unsubscribe(mine, b)
	testenv.WaitFor(t, 10*time.Second, "the unsubscription", func() bool { return shardSubscribers(t, rdb, mine) == 0 })
	for i := range 20 {
		s, err := h.subscribe(ctx, mine)
		if err != nil {
			t.Fatal(err)
		}
		msg := "again " + string(rune('a'+i))
		rdb.SPublish(ctx, mine, msg)
		if got := received(t, s); got != msg {
			t.Fatalf("got %q, want %q", got, msg)
		}
		h.unsubscribe(mine, s)
	}
	h.unsubscribe(theirs, c)
	testenv.WaitFor(t, 10*time.Second, "no subscription left", func() bool {
		return shardSubscribers(t, rdb, mine)+shardSubscribers(t, rdb, theirs) == 0
	})
}
