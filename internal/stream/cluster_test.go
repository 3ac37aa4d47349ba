package stream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// clusterFixture is newFixture on the shared Redis Cluster.
func clusterFixture(t *testing.T, rdb redis.UniversalClient) *fixture {
	f := newFixture(t)
	f.rdb, f.pub = rdb, stream.NewPublisher(rdb, nil)
	return f
}

func TestOnClusterPoisonIsDeadLetteredAndReplayedInItsStreamsSlot(t *testing.T) {
	t.Parallel()
	f := clusterFixture(t, testenv.RedisCluster(t))
	rec := newRecorder()
	fail := true
	cfg := f.config()
	cfg.Block = time.Minute // shutdown unblocks the read on the stream's node
	c, stop := consume(t, f.rdb, cfg, func(ctx context.Context, m stream.Message) error {
		rec.saw(m)
		if m.Fields["n"] == "3" && fail {
			return stream.Permanent(errors.New("not three"))
		}
		rec.ok(m)
		return nil
	})
	ids := f.publish(10)
	dl := f.oneDeadLetter(rec, 9, 20*time.Second)
	if dl.OriginStream != f.stream || dl.Consumer != c.Name() || dl.Fields[stream.FieldEventID] != ids[3] {
		t.Errorf("dead letter %+v", dl)
	}
	fail = false
	if _, err := stream.Replay(t.Context(), f.rdb, stream.DeadLetterStream(f.stream), dl.ID); err != nil {
		t.Fatalf("replay on a cluster: %v", err)
	}
	testenv.WaitFor(t, 20*time.Second, "the replayed entry handled", func() bool { return rec.handled() == 10 })
	start := time.Now()
	stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown took %v: the blocked read was not unblocked on its node", took)
	}
}

func TestReaderFollowsItsStreamToTheReplicaThatTookOver(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes several seconds")
	}
	t.Parallel()
	rc := testenv.OwnRedisCluster(t, "always")
	f := clusterFixture(t, testenv.RedisAt(t, rc.URL()))
	cfg := f.config()
	// Only the reader's own errors may lead it to the new primary.
	cfg.Block = time.Minute
	cfg.ClaimInterval = time.Hour
	rec := newRecorder()
	consume(t, f.rdb, cfg, func(ctx context.Context, m stream.Message) error {
		rec.ok(m)
		return nil
	})
	first := f.publish(5)
	f.wantEachHandledOnce(rec, first, 20*time.Second, "entries before the failover")

	primary, err := f.rdb.(*redis.ClusterClient).MasterForKey(t.Context(), f.stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Node(primary.Options().Addr).Kill(); err != nil {
		t.Fatal(err)
	}
	// Another client appends once a replica has taken over.
	other := testenv.RedisAt(t, rc.URL()).(*redis.ClusterClient)
	pub := stream.NewPublisher(other, nil)
	var after []string
	testenv.WaitFor(t, 45*time.Second, "an append after the failover", func() bool {
		other.ReloadState(t.Context())
		e := stream.Event{ID: stream.NewID(), Type: "Tested", Fields: map[string]string{"n": "after"}}
		if _, err := pub.Publish(t.Context(), f.stream, e); err != nil {
			return false
		}
		after = append(after, e.ID)
		return true
	})
	f.wantEachHandledOnce(rec, append(first, after...), 30*time.Second, "the entry appended after the failover")
}
