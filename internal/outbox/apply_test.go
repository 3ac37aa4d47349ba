package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/outbox"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// The tests of Apply give it batches of event ids (or of stream messages)
// and an effect that inserts one row per fresh event into svc.effects and
// announces it with one message whose field "source" is the event id.
// svc.effects has no unique key, so an event applied twice shows as two
// rows; the stream shows an announcement published twice.

func same(id string) string { return id }

// migrateEffects creates svc.effects.
func migrateEffects(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `CREATE TABLE svc.effects (event_id text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
}

// setupApply returns a pool with svc's outbox tables and svc.effects, and
// svc's Outbox publishing to Redis.
func setupApply(t *testing.T) (*pgxpool.Pool, redis.UniversalClient, *outbox.Outbox) {
	t.Helper()
	pool, rdb := setup(t)
	migrateEffects(t, pool)
	return pool, rdb, outbox.New(pool, rdb, stream.NewPublisher(rdb, nil), "svc", outbox.Config{}, testenv.Logger(t))
}

// applyPool opens a pool of at most maxConns connections (0: pgxpool's
// default) to the database of dbURL, closed when t ends, and migrates it
// as setupApply does.
func applyPool(t *testing.T, dbURL string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	migrate(t, pool)
	migrateEffects(t, pool)
	return pool
}

// effect is the tests' effect for events whose ids eventID gives: a row in
// svc.effects and a message on out per fresh event.
func effect[E any](out string, eventID func(E) string) outbox.Effect[E] {
	return func(ctx context.Context, tx pgx.Tx, fresh []E) ([]*outbox.Message, error) {
		ids := make([]string, len(fresh))
		msgs := make([]*outbox.Message, len(fresh))
		for i, e := range fresh {
			ids[i] = eventID(e)
			msgs[i] = &outbox.Message{Stream: out, Event: stream.Event{Type: "Applied", Fields: map[string]string{"source": ids[i]}}}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO svc.effects SELECT unnest($1::text[])`, ids); err != nil {
			return nil, err
		}
		return msgs, nil
	}
}

// recorded wraps an effect so that each call's fresh events are kept.
type recorded[E any] struct {
	mu    sync.Mutex
	calls [][]E
}

func (r *recorded[E]) wrap(fn outbox.Effect[E]) outbox.Effect[E] {
	return func(ctx context.Context, tx pgx.Tx, fresh []E) ([]*outbox.Message, error) {
		r.mu.Lock()
		r.calls = append(r.calls, fresh)
		r.mu.Unlock()
		return fn(ctx, tx, fresh)
	}
}

func (r *recorded[E]) get() [][]E {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// effects returns how often each event's effect was applied.
func effects(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event_id, count(*) FROM svc.effects GROUP BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	var (
		id string
		n  int
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { got[id] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// processed returns the recorded event ids.
func processed(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event_id FROM svc.processed_events ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// announced returns how often each event's announcement is in stream out.
func announced(t *testing.T, rdb redis.UniversalClient, out string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range testenv.Entries(t, rdb, out, stream.Decode) {
		got[m.Fields["source"]]++
	}
	return got
}

// appliedOnce relays ob's outbox and checks that each of ids has one
// effect and one announcement on out.
func appliedOnce(t *testing.T, pool *pgxpool.Pool, rdb redis.UniversalClient, ob *outbox.Outbox, out string, ids ...string) {
	t.Helper()
	relayAll(t, ob)
	if diff := cmp.Diff(onceEach(ids), effects(t, pool)); diff != "" {
		t.Errorf("effects (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(onceEach(ids), announced(t, rdb, out)); diff != "" {
		t.Errorf("announced (-want +got):\n%s", diff)
	}
}

func relayAll(t *testing.T, ob *outbox.Outbox) {
	t.Helper()
	for {
		n, err := ob.RelayOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func TestApplyAppliesFreshEventsOnceAndAnnouncesThem(t *testing.T) {
	t.Parallel()
	pool, rdb, ob := setupApply(t)
	out := testenv.Name(t, "out")
	var rec recorded[string]
	if err := outbox.Apply(context.Background(), ob, []string{"a", "b"}, same, rec.wrap(effect(out, same))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"a", "b"}}, rec.get()); diff != "" {
		t.Errorf("effect calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "b"}, processed(t, pool)); diff != "" {
		t.Errorf("processed (-want +got):\n%s", diff)
	}
	appliedOnce(t, pool, rdb, ob, out, "a", "b")
}

// A consumer that committed but died before its ack, or whose ack was
// lost, gets the same entries again: the same event ids.
func TestBatchRedeliveredAfterCommitHasNoEffectAndNoSecondAnnouncement(t *testing.T) {
	t.Parallel()
	pool, rdb, ob := setupApply(t)
	ctx := context.Background()
	out := testenv.Name(t, "out")
	if err := outbox.Apply(ctx, ob, []string{"a", "b"}, same, effect(out, same)); err != nil {
		t.Fatal(err)
	}
	relayAll(t, ob)

	var rec recorded[string]
	if err := outbox.Apply(ctx, ob, []string{"a", "b"}, same, rec.wrap(effect(out, same))); err != nil {
		t.Fatalf("redelivered batch: %v", err)
	}
	if calls := rec.get(); len(calls) != 0 {
		t.Errorf("the effect was called with %v for a batch of processed events; want no call", calls)
	}
	// A batch mixing processed and new events applies only the new.
	if err := outbox.Apply(ctx, ob, []string{"b", "c", "a"}, same, rec.wrap(effect(out, same))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"c"}}, rec.get()); diff != "" {
		t.Errorf("effect calls (-want +got):\n%s", diff)
	}
	appliedOnce(t, pool, rdb, ob, out, "a", "b", "c")
}

// A relay that died between its XADD and its commit publishes the event
// again; both entries may be read in one batch.
func TestSameEventTwiceInOneBatchReachesTheEffectOnce(t *testing.T) {
	t.Parallel()
	pool, _, ob := setupApply(t)
	type entry struct {
		eventID string
		n       int
	}
	eventID := func(e entry) string { return e.eventID }
	var rec recorded[entry]
	batch := []entry{{"a", 1}, {"b", 2}, {"a", 3}}
	if err := outbox.Apply(context.Background(), ob, batch, eventID, rec.wrap(effect(testenv.Name(t, "out"), eventID))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]entry{{{"a", 1}, {"b", 2}}}, rec.get(), cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("effect calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(onceEach([]string{"a", "b"}), effects(t, pool)); diff != "" {
		t.Errorf("effects (-want +got):\n%s", diff)
	}
}

func TestFailedEffectRecordsNothingAndTheRedeliveryAppliesIt(t *testing.T) {
	t.Parallel()
	pool, rdb, ob := setupApply(t)
	ctx := context.Background()
	out := testenv.Name(t, "out")
	errBoom := errors.New("boom")
	failures := map[string]outbox.Effect[string]{
		// The effect wrote its rows, then failed.
		"effect fails": func(ctx context.Context, tx pgx.Tx, fresh []string) ([]*outbox.Message, error) {
			if _, err := effect(out, same)(ctx, tx, fresh); err != nil {
				return nil, err
			}
			return nil, errBoom
		},
		// The effect succeeded, its announcement cannot be written.
		"announcement fails": func(ctx context.Context, tx pgx.Tx, fresh []string) ([]*outbox.Message, error) {
			msgs, err := effect(out, same)(ctx, tx, fresh)
			if err != nil {
				return nil, err
			}
			msgs[0].Event.Type = "" // not publishable
			return msgs, nil
		},
	}
	for name, fail := range failures {
		if err := outbox.Apply(ctx, ob, []string{"a", "b"}, same, fail); err == nil {
			t.Fatalf("%s: Apply succeeded", name)
		} else if stream.IsUnavailable(err) || stream.IsPermanent(err) {
			t.Errorf("%s: Apply = %v, marked unavailable or permanent; want it as it is", name, err)
		}
		if got := effects(t, pool); len(got) != 0 {
			t.Errorf("%s: effects %v after a failed Apply; want none", name, got)
		}
		if got := processed(t, pool); len(got) != 0 {
			t.Errorf("%s: processed %v after a failed Apply; want none", name, got)
		}
		if p, err := ob.Pending(ctx); err != nil || p != 0 {
			t.Errorf("%s: Pending = %d, %v after a failed Apply; want 0", name, p, err)
		}
	}

	var rec recorded[string]
	if err := outbox.Apply(ctx, ob, []string{"a", "b"}, same, rec.wrap(effect(out, same))); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if diff := cmp.Diff([][]string{{"a", "b"}}, rec.get()); diff != "" {
		t.Errorf("effect calls of the redelivery (-want +got):\n%s", diff)
	}
	appliedOnce(t, pool, rdb, ob, out, "a", "b")
}

func TestPermanentErrorOfTheEffectIsReturnedUnchanged(t *testing.T) {
	t.Parallel()
	pool, _, ob := setupApply(t)
	bad := stream.Permanent(errors.New("payment for unknown order"))
	err := outbox.Apply(context.Background(), ob, []string{"a"}, same, func(context.Context, pgx.Tx, []string) ([]*outbox.Message, error) {
		return nil, bad
	})
	if err != bad { // unchanged: the very error, not a wrapper
		t.Errorf("Apply = %v; want the effect's permanent error unchanged", err)
	}
	if got := processed(t, pool); len(got) != 0 {
		t.Errorf("processed %v; want none", got)
	}
}

func TestDatabaseOutageIsUnavailableAndRecordsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		ob := outbox.New(testenv.DeadPool(t), nil, nil, "svc", outbox.Config{}, testenv.Logger(t))
		var rec recorded[string]
		err := outbox.Apply(ctx, ob, []string{"a"}, same, rec.wrap(effect("out", same)))
		if !stream.IsUnavailable(err) {
			t.Errorf("Apply = %v; want an error marked stream.Unavailable", err)
		}
		if calls := rec.get(); len(calls) != 0 {
			t.Errorf("the effect was called with %v", calls)
		}
	})

	t.Run("connection lost in the transaction", func(t *testing.T) {
		t.Parallel()
		pool, rdb, ob := setupApply(t)
		out := testenv.Name(t, "out")
		err := outbox.Apply(ctx, ob, []string{"a"}, same, func(ctx context.Context, tx pgx.Tx, fresh []string) ([]*outbox.Message, error) {
			msgs, err := effect(out, same)(ctx, tx, fresh)
			if err != nil {
				return nil, err
			}
			// The server ends this very connection, as a restart would.
			_, err = tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			return msgs, err
		})
		if !stream.IsUnavailable(err) {
			t.Errorf("Apply = %v; want an error marked stream.Unavailable", err)
		}
		if got := processed(t, pool); len(got) != 0 {
			t.Errorf("processed %v after the outage; want none", got)
		}
		if err := outbox.Apply(ctx, ob, []string{"a"}, same, effect(out, same)); err != nil {
			t.Fatalf("redelivery after the outage: %v", err)
		}
		appliedOnce(t, pool, rdb, ob, out, "a")
	})
}

// Replicas apply the same event at once when one takes over an entry the
// other is still handling. Each contender's transaction records the id;
// all but the first wait on processed_events' primary key. The effect
// waits until they do, so that the race is real.
func TestConcurrentApplyOfOneEventHasOneFreshWinner(t *testing.T) {
	t.Parallel()
	const contenders = 6
	for _, firstFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("first winner fails %v", firstFails), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := applyPool(t, testenv.Postgres(t), contenders+2) // the contenders, and one to watch them
			ob := outbox.New(pool, nil, nil, "svc", outbox.Config{}, testenv.Logger(t))

			waitingOnLocks := func() int {
				var n int
				err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
				if err != nil {
					t.Error(err)
				}
				return n
			}
			errBoom := errors.New("boom")
			var calls atomic.Int32
			fn := func(ctx context.Context, tx pgx.Tx, fresh []string) ([]*outbox.Message, error) {
				call := int(calls.Add(1))
				// The call-th winner waits for the contenders left.
				want := contenders - call
				deadline := time.Now().Add(30 * time.Second)
				for waitingOnLocks() < want {
					if time.Now().After(deadline) {
						return nil, fmt.Errorf("winner %d: %d contenders never waited for it", call, want)
					}
					time.Sleep(10 * time.Millisecond)
				}
				if firstFails && call == 1 {
					return nil, errBoom
				}
				if _, err := tx.Exec(ctx, `INSERT INTO svc.effects SELECT unnest($1::text[])`, fresh); err != nil {
					return nil, err
				}
				return nil, nil
			}
			var wg sync.WaitGroup
			errs := make([]error, contenders)
			for i := range contenders {
				wg.Go(func() { errs[i] = outbox.Apply(ctx, ob, []string{"e"}, same, fn) })
			}
			wg.Wait()

			wantCalls, wantFailed := 1, 0
			if firstFails {
				wantCalls, wantFailed = 2, 1
			}
			failed := 0
			for _, err := range errs {
				switch {
				case errors.Is(err, errBoom):
					failed++
				case err != nil:
					t.Errorf("Apply: %v", err)
				}
			}
			if got := int(calls.Load()); got != wantCalls || failed != wantFailed {
				t.Errorf("%d effect calls and %d failed Applies; want %d and %d", got, failed, wantCalls, wantFailed)
			}
			if diff := cmp.Diff(map[string]int{"e": 1}, effects(t, pool)); diff != "" {
				t.Errorf("effects (-want +got):\n%s", diff)
			}
		})
	}
}

// The crash test runs a consumer in a child process: this test binary,
// re-executed to run only TestApplyingConsumerProcess with these variables
// set.
const (
	envChildDatabase = "STREAMCART_CHILD_DATABASE_URL"
	envChildRedis    = "STREAMCART_CHILD_REDIS_URL"
	envChildIn       = "STREAMCART_CHILD_IN"
	envChildOut      = "STREAMCART_CHILD_OUT"
)

func messageEventID(m stream.Message) string { return m.ID }

// TestApplyingConsumerProcess is the child's consumer. It applies its
// first batch with Apply and, as soon as Apply has committed, kills its
// own process, before the consumer acknowledges the batch.
func TestApplyingConsumerProcess(t *testing.T) {
	dbURL, redisURL := os.Getenv(envChildDatabase), os.Getenv(envChildRedis)
	if dbURL == "" {
		t.Skip("only runs as the child of TestConsumerKilledBetweenCommitAndAckHasOneEffectAndOneAnnouncement")
	}
	ctx := context.Background()
	pool := testenv.PoolAt(t, dbURL)
	rdb := testenv.RedisAt(t, redisURL)
	ob := outbox.New(pool, rdb, stream.NewPublisher(rdb, nil), "svc", outbox.Config{}, testenv.Logger(t))
	c, err := stream.NewBatchConsumer(rdb, stream.Config{Stream: os.Getenv(envChildIn), Group: "g", Consumer: "child"},
		func(ctx context.Context, msgs []stream.Message) error {
			if err := outbox.Apply(ctx, ob, msgs, messageEventID, effect(os.Getenv(envChildOut), messageEventID)); err != nil {
				return err
			}
			self, err := os.FindProcess(os.Getpid())
			if err == nil {
				err = self.Kill()
			}
			if err != nil {
				t.Errorf("kill myself: %v", err)
				os.Exit(3)
			}
			select {} // until the kill lands
		})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Run(ctx)
}

func TestConsumerKilledBetweenCommitAndAckHasOneEffectAndOneAnnouncement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.Postgres(t)
	pool := applyPool(t, dbURL, 0)
	rdb := testenv.Redis(t)
	in, out := testenv.Name(t, "in"), testenv.Name(t, "out")

	pub := stream.NewPublisher(rdb, nil)
	const n = 20
	ids := make([]string, n)
	eventOf := map[string]string{} // entry id -> event id
	for i := range ids {
		ids[i] = stream.NewID()
		entry, err := pub.Publish(ctx, in, stream.Event{ID: ids[i], Type: "Tested"})
		if err != nil {
			t.Fatal(err)
		}
		eventOf[entry] = ids[i]
	}

	var output bytes.Buffer
	child := exec.Command(os.Args[0], "-test.run=^TestApplyingConsumerProcess$", "-test.count=1", "-test.v")
	child.Env = append(os.Environ(), envChildDatabase+"="+dbURL, envChildRedis+"="+testenv.RedisURL(t), envChildIn+"="+in, envChildOut+"="+out)
	child.Stdout, child.Stderr = &output, &output
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		_ = child.Process.Kill()
		<-exited
		t.Fatalf("the child consumer did not die within 60s; its output:\n%s", output.String())
	}
	if child.ProcessState.ExitCode() != -1 {
		t.Fatalf("the child consumer exited with %v instead of being killed; its output:\n%s", child.ProcessState, output.String())
	}

	// The child died after its commit and before its ack: its entries are
	// pending, and their effects are there.
	pending, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: in, Group: "g", Start: "-", End: "+", Count: n, Consumer: "child",
	}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 {
		t.Fatal("the killed child left no pending entries")
	}
	applied := effects(t, pool)
	for _, p := range pending {
		if applied[eventOf[p.ID]] != 1 {
			t.Fatalf("pending entry %s (event %s) was applied %d times before the crash; want 1",
				p.ID, eventOf[p.ID], applied[eventOf[p.ID]])
		}
	}
	t.Logf("the child died after applying %d events, with %d entries pending", len(applied), len(pending))

	// A second consumer takes the entries over; a relay publishes.
	ob := outbox.New(pool, rdb, pub, "svc", outbox.Config{Poll: 20 * time.Millisecond}, testenv.Logger(t))
	testenv.Run(t, ob.Run)
	c, err := stream.NewBatchConsumer(rdb, stream.Config{
		Stream: in, Group: "g", Consumer: "survivor",
		MinIdle: 2 * time.Second, HandlerTimeout: 500 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
		Logger: testenv.Logger(t),
	}, func(ctx context.Context, msgs []stream.Message) error {
		return outbox.Apply(ctx, ob, msgs, messageEventID, effect(out, messageEventID))
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, c.Run)
	testenv.WaitFor(t, 60*time.Second, "every entry applied and acknowledged, every announcement published", func() bool {
		p, err := rdb.XPending(ctx, in, "g").Result()
		if err != nil || p.Count != 0 {
			return false
		}
		pending, err := ob.Pending(ctx)
		return err == nil && pending == 0 && len(effects(t, pool)) == n
	})
	if diff := cmp.Diff(onceEach(ids), effects(t, pool)); diff != "" {
		t.Errorf("effects (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(onceEach(ids), announced(t, rdb, out)); diff != "" {
		t.Errorf("announced (-want +got):\n%s", diff)
	}
	if dl, err := rdb.XLen(ctx, stream.DeadLetterStream(in)).Result(); err != nil || dl != 0 {
		t.Errorf("dead letters: %d, %v; want none", dl, err)
	}
}
