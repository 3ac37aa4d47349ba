package stream_test

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// wantPending checks that the group has n entries pending, when.
func (f *fixture) wantPending(n int, when string) {
	f.t.Helper()
	p, err := f.rdb.XPending(context.Background(), f.stream, f.group).Result()
	if err != nil || p.Count != int64(n) {
		f.t.Fatalf("pending %+v (%v), want %d entries %s", p, err, n, when)
	}
}

// A consumer that keeps up reads small batches; their acks go out
// together, far fewer XACKs than batches, and every entry is acknowledged
// soon after its handling.
func TestAcksAreBatchedOverTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rdb := testenv.Redis(t) // the consumer's own client, whose commands are counted
	counter := testenv.CountCommands(rdb)
	cfg := f.config()
	cfg.AckDelay = 200 * time.Millisecond // MinIdle/5
	var batches atomic.Int64
	consumeBatches(t, rdb, cfg, func(_ context.Context, msgs []stream.Message) error {
		batches.Add(1)
		return nil
	})

	// One entry every 5ms for a second: the consumer keeps up, in batches
	// of an entry or a few.
	const n = 200
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for range n {
		<-tick.C
		f.publish(1)
	}
	testenv.WaitFor(t, 20*time.Second, "every entry handled and acknowledged", func() bool {
		return f.settled()
	})
	b, acks := batches.Load(), counter.Count("xack")
	t.Logf("%d entries in %d batches, %d XACKs, %d reads", n, b, acks, counter.Count("xreadgroup"))
	if b < 10 {
		t.Fatalf("%d entries came in %d batches; the test wants many small ones", n, b)
	}
	if int64(acks)*2 > b {
		t.Errorf("%d XACKs for %d batches, want at most half as many", acks, b)
	}
}

// An idle stream does not hold acks back: an entry handled is
// acknowledged about AckDelay later, however long the reads block.
func TestAcksOfAnIdleStreamGoOutAfterAckDelay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.Block = time.Minute
	rec, _ := f.record(cfg)
	for range 3 {
		ids := f.publish(1)
		start := time.Now()
		testenv.WaitFor(t, 20*time.Second, "the entry acknowledged", func() bool {
			return rec.counts()[ids[0]] == 1 && f.settled()
		})
		// 1.5 AckDelay (75ms) at most, and the machine's delays: generous.
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("entry acknowledged %v after it was appended", took)
		}
	}
}

// On a graceful stop the acks still waiting go out: nothing handled stays
// pending.
func TestGracefulStopSendsTheAcksWaiting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.MinIdle, cfg.AckDelay = 10*time.Minute, 2*time.Minute
	rec := newRecorder()
	_, stop := consume(t, f.rdb, cfg, rec.handle)
	ids := f.publish(50)
	testenv.WaitFor(t, 20*time.Second, "every entry handled", func() bool { return rec.handled() == len(ids) })
	f.wantPending(len(ids), "before the stop, their acks waiting")
	stop()
	f.wantPending(0, "after a graceful stop")
}

// An ack that fails is kept and sent again: the entries are acknowledged
// in the end, and handled once.
func TestFailedAckIsSentAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u, err := url.Parse(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartProxy(t, u.Host)
	u.Host = proxy.Addr()
	broken := proxy.BreakBefore("xack") // the first ack never reaches Redis
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1 // the consumer's own retry, not the client's
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	rec := newRecorder()
	consume(t, rdb, f.config(), rec.handle)
	ids := f.publish(20)
	testenv.WaitFor(t, 20*time.Second, "an ack to break", func() bool {
		select {
		case <-broken:
			return true
		default:
			return false
		}
	})
	f.wantEachHandledOnce(rec, ids, 20*time.Second, "every entry acknowledged after the broken ack")
}
