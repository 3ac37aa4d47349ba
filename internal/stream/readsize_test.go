package stream_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/stream"
)

// publishAtOnce appends n events in one transaction, so that a consumer
// blocked in a read sees all of them when it wakes, and returns their ids.
func (f *fixture) publishAtOnce(n int) []string {
	f.t.Helper()
	return f.publishIn(f.rdb.TxPipeline(), n)
}

func TestReadsGrowWithTheBacklogAndShrinkOnceCaughtUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.MinCount, cfg.Count = 10, 80
	// Handling time must not bound the reads here (see the next test).
	cfg.HandlerTimeout, cfg.ShutdownTimeout = time.Minute, time.Minute

	// A backlog of 1,000 entries: each full read doubles the next, up to
	// Count; the last one, short, takes the rest.
	b, ids := f.consumeBacklog(cfg, 1000, nil)
	rec := b.rec
	f.wantEachHandledOnce(rec, ids, time.Minute, "the backlog handled")
	want := []int{10, 20, 40}
	for range 11 {
		want = append(want, 80)
	}
	want = append(want, 50)
	if diff := cmp.Diff(want, b.seen()); diff != "" {
		t.Errorf("batch sizes through the backlog (-want +got):\n%s", diff)
	}

	// Caught up: a read of one entry takes the count back to MinCount, so
	// a new backlog is read from MinCount up again.
	ids = append(ids, f.publish(1)...)
	f.wantEachHandledOnce(rec, ids, time.Minute, "the single entry handled")
	before := len(b.seen())
	ids = append(ids, f.publishAtOnce(300)...)
	f.wantEachHandledOnce(rec, ids, time.Minute, "the second backlog handled")
	if diff := cmp.Diff([]int{10, 20, 40, 80, 80, 70}, b.seen()[before:]); diff != "" {
		t.Errorf("batch sizes through the second backlog (-want +got):\n%s", diff)
	}
}

func TestReadsStayWithinTheHandlersTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.MinCount, cfg.Count = 10, 1000
	// A read must be handled within a quarter of the handler timeout:
	// 100ms, at least 5ms per entry, so 20 entries at most.
	cfg.HandlerTimeout, cfg.ShutdownTimeout = 400*time.Millisecond, time.Minute
	b, ids := f.consumeBacklog(cfg, 200, func(ctx context.Context, msgs []stream.Message, _ int) error {
		time.Sleep(5 * time.Millisecond * time.Duration(len(msgs))) // the work
		return ctx.Err()
	})
	f.wantEachHandledOnce(b.rec, ids, time.Minute, "the backlog handled")
	if sizes := b.seen(); slices.Max(sizes) > 20 {
		t.Errorf("batch sizes %v, want none above 20", sizes)
	}
	f.wantNoDeadLetters()
}

func TestALingeringConsumerReadsWhatArrivesMeanwhileAtOnceButNeverWaitsWhenBehind(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.MinCount, cfg.Count = 10, 10
	cfg.Linger, cfg.Block = 4*time.Second, 10*time.Second

	// Behind: every read comes back full, and the next follows at once, so
	// the backlog takes less than one Linger.
	b, ids := f.consumeBacklog(cfg, 40, nil)
	f.wantEachHandledOnce(b.rec, ids, cfg.Linger, "the backlog handled without lingering")

	// Keeping up: the read that brings one entry comes back short, so the
	// next waits for Linger and brings the three appended one by one
	// meanwhile, in one batch.
	ids = append(ids, f.publish(1)...)
	f.wantEachHandledOnce(b.rec, ids, time.Minute, "the single entry handled")
	for range 3 {
		ids = append(ids, f.publish(1)...)
	}
	f.wantEachHandledOnce(b.rec, ids, time.Minute, "the three entries handled")
	if diff := cmp.Diff([]int{10, 10, 10, 10, 1, 3}, b.seen()); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
}
