package stream_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// settledLag reports whether the group has read every entry; what it read
// may still be pending.
func (f *fixture) settledLag() bool {
	info, err := stream.Inspect(context.Background(), f.rdb, f.stream)
	return err == nil && len(info.Groups) == 1 && info.Groups[0].Lag == 0
}

// consumers returns the names of the group's consumers, sorted.
func (f *fixture) consumers() []string {
	info, err := stream.Inspect(context.Background(), f.rdb, f.stream)
	if err != nil || len(info.Groups) == 0 {
		return nil
	}
	var names []string
	for _, c := range info.Groups[0].Consumers {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

// loggedConfig is config with a logger that writes every record, Debug
// included, to logs.
func (f *fixture) loggedConfig() (cfg stream.Config, logs *testenv.Buffer) {
	logs = &testenv.Buffer{}
	cfg = f.config()
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg, logs
}

func TestLiveConsumerWithASlowHandlerKeepsItsEntries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.MinIdle = 2 * time.Second
	cfg.HandlerTimeout = time.Minute // the handler takes longer than MinIdle
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	slow := newRecorder()
	consume(t, f.rdb, cfg, func(ctx context.Context, m stream.Message) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		slow.ok(m)
		return nil
	})
	ids := f.publish(3)
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow handler was never called")
	}
	eager := newRecorder()
	eagerCfg := cfg
	eagerCfg.ClaimInterval = 50 * time.Millisecond
	consume(t, f.rdb, eagerCfg, eager.handle)

	// Not synchronisation: what must not happen is the subject of the test.
	// For three times MinIdle the slow consumer keeps working on its batch,
	// and the eager one, checking every 50ms, must not take it over.
	time.Sleep(3 * cfg.MinIdle)
	close(release)
	testenv.WaitFor(t, 30*time.Second, "every entry handled and acknowledged", func() bool {
		return slow.handled()+eager.handled() == len(ids) && f.settled()
	})
	slow.wantCounts(t, onceEach(ids))
	if n := eager.handled(); n != 0 {
		t.Errorf("the other consumer handled %d entries of the live one, want 0", n)
	}
}

func TestGoneConsumersAreRemovedFromTheirGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ids := f.publish(4)
	f.abandon("dead", 2) // died with two entries pending
	if err := f.rdb.XGroupCreateConsumer(ctx, f.stream, f.group, "gone").Err(); err != nil {
		t.Fatal(err) // left with nothing pending
	}
	cfg := f.reclaimConfig(200 * time.Millisecond)
	cfg.RemoveIdleAfter = time.Second
	rec, c := f.record(cfg)
	testenv.WaitFor(t, 30*time.Second, "the dead consumers removed, their work done", func() bool {
		return rec.handled() == len(ids) && f.settled() && slices.Equal(f.consumers(), []string{c.Name()})
	})
	rec.wantCounts(t, onceEach(ids))
}

func TestRetriedBatchesAreNeverLargerThanCount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.Count = 10
	cfg.RetryBackoff = 5 * time.Millisecond
	cfg.MaxRetryBackoff = 20 * time.Millisecond
	b, ids := f.consumeBacklog(cfg, 200, func(_ context.Context, _ []stream.Message, calls int) error {
		if calls <= 60 { // the database is down for the first 60 calls
			return stream.Unavailable(errors.New("database is down"))
		}
		return nil
	})
	f.wantEachHandledOnce(b.rec, ids, 60*time.Second, "every entry handled after the outage")
	if sizes := b.seen(); slices.Max(sizes) > int(cfg.Count) {
		t.Errorf("a batch of %d entries was handled, want at most Count (%d); sizes %v", slices.Max(sizes), cfg.Count, sizes)
	}
}

func TestTimedOutBatchIsSplitBeforeItIsRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.Count, cfg.HandlerTimeout = 16, 300*time.Millisecond
	// The 16 entries are read in one batch.
	b, ids := f.consumeBacklog(cfg, 16, func(ctx context.Context, msgs []stream.Message, _ int) error {
		if len(msgs) > 4 {
			// Overloaded: a batch this large never finishes in time, and
			// the deadline reads as the database being unavailable, as
			// outbox.Apply reports it.
			<-ctx.Done()
			return stream.Unavailable(ctx.Err())
		}
		return nil
	})
	f.wantEachHandledOnce(b.rec, ids, 60*time.Second, "every entry handled in smaller batches")
	f.wantNoDeadLetters()
	if diff := cmp.Diff([]int{16, 8, 8, 4, 4, 4, 4}, sorted(b.seen())); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
}

// sorted returns s sorted in decreasing order.
func sorted(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	slices.Reverse(s)
	return s
}

func TestDeferredEntryWaitsItsDelayWithoutCountingOrWarning(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg, logs := f.loggedConfig()
	const delay = 50 * time.Millisecond
	var mu sync.Mutex
	var calls []time.Time // of the deferred entry, the first
	rec, _ := f.consumeFailing(cfg, func(m stream.Message) error {
		if m.Fields["n"] == "0" {
			mu.Lock()
			calls = append(calls, time.Now())
			n := len(calls)
			mu.Unlock()
			// Deferred more often than MaxDeliveries (3).
			if n <= 6 {
				return stream.Defer(errors.New("waits for its user's first login identity"), delay)
			}
		}
		return nil
	})
	ids := f.publish(3)
	first := ids[0]
	f.wantEachHandledOnce(rec, ids, 30*time.Second, "every entry handled")
	f.wantNoDeadLetters()
	if n := logs.Count("level=WARN") + logs.Count("level=ERROR"); n != 0 {
		t.Errorf("%d warnings or errors for a deferral, want none:\n%s", n, logs.String())
	}
	if logs.Count("deferred") == 0 {
		t.Errorf("no debug record of the deferral:\n%s", logs.String())
	}
	rec.wantDeliveries(t, "the deferred entry", first, []int64{1, 1, 1, 1, 1, 1, 1})
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < delay {
			t.Errorf("call %d came %v after the deferral, want at least %v", i+1, gap, delay)
		}
	}
}

func TestOutageWarningsAreLoggedAtMostEveryFewSecondsWithACount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg, logs := f.loggedConfig()
	cfg.RetryBackoff = time.Millisecond
	cfg.MaxRetryBackoff = 5 * time.Millisecond
	var mu sync.Mutex
	calls := 0
	rec := newRecorder()
	consume(t, f.rdb, cfg, func(ctx context.Context, m stream.Message) error {
		mu.Lock()
		calls++
		down := calls <= 100
		mu.Unlock()
		if down {
			return stream.Unavailable(errors.New("database is down"))
		}
		rec.ok(m)
		return nil
	})
	start := time.Now()
	f.publish(1)
	testenv.WaitFor(t, 60*time.Second, "the entry handled after 100 failures", func() bool {
		return rec.handled() == 1 && f.settled()
	})
	took := time.Since(start)
	warns := 0
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "dependency unavailable") {
			warns++
		}
	}
	// One at the start of the outage, then at most one per 5s.
	if most := 1 + int(took/(5*time.Second)); warns == 0 || warns > most {
		t.Errorf("%d outage warnings in %v for 100 failures, want 1 to %d:\n%s", warns, took, most, logs.String())
	}
	if logs.Count("level=WARN") > warns {
		t.Errorf("other warnings during the outage:\n%s", logs.String())
	}
}

// TestRenewalDoesNotTakeBackWhatAnotherConsumerClaimed stalls a consumer
// (its handler waits) until another consumer has taken its entry over, as
// after a long pause of its process, and checks that the stalled one does
// not claim the entry back, and that it is not handled by a third party.
func TestRenewalDoesNotTakeBackWhatAnotherConsumerClaimed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	cfg := f.config()
	cfg.MinIdle = 2 * time.Second
	cfg.HandlerTimeout = time.Minute
	release := make(chan struct{})
	started := make(chan string, 1)
	stalled, _ := consume(t, f.rdb, cfg, func(ctx context.Context, m stream.Message) error {
		started <- m.EntryID
		<-release
		return nil
	})
	f.publish(1)
	var id string
	select {
	case id = <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler was never called")
	}
	// Another process takes the entry over by hand, as XAUTOCLAIM would
	// after the stalled consumer's lease had lapsed.
	if err := f.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: f.stream, Group: f.group, Consumer: "other", Messages: []string{id},
	}).Err(); err != nil {
		t.Fatal(err)
	}
	// Two lease periods of the stalled consumer (MinIdle/4 each) pass.
	time.Sleep(cfg.MinIdle / 2)
	p, err := f.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: f.stream, Group: f.group, Start: id, End: id, Count: 1}).Result()
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || p[0].Consumer != "other" {
		t.Errorf("pending entry %+v, want it still with consumer other, not %s", p, stalled.Name())
	}
}
