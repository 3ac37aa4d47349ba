package outbox_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
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

func TestMain(m *testing.M) { testenv.Main(m) }

func setup(t *testing.T) (*pgxpool.Pool, redis.UniversalClient) {
	t.Helper()
	pool := testenv.Pool(t)
	migrate(t, pool)
	return pool, testenv.Redis(t)
}

// migrate creates schema svc with the outbox tables in pool's database.
func migrate(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA svc"); err != nil {
		t.Fatal(err)
	}
	if err := outbox.Migrate(ctx, pool, "svc"); err != nil {
		t.Fatal(err)
	}
	if err := outbox.Migrate(ctx, pool, "svc"); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
}

// add writes n events to name in one transaction that commits when commit
// is true, and returns their ids.
func add(t *testing.T, ob *outbox.Outbox, pool *pgxpool.Pool, name string, n int, commit bool) []string {
	t.Helper()
	ctx := context.Background()
	msgs := make([]*outbox.Message, n)
	for i := range msgs {
		msgs[i] = &outbox.Message{Stream: name, Event: stream.Event{Type: "Tested", Fields: map[string]string{"i": strconv.Itoa(i)}}}
	}
	errRollback := errors.New("rollback")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := ob.Add(ctx, tx, msgs...); err != nil {
			return err
		}
		if !commit {
			return errRollback
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, m := range msgs {
		ids[i] = m.Event.ID
	}
	return ids
}

// published returns how often each event id appears in the stream.
func published(t *testing.T, rdb redis.UniversalClient, name string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range testenv.Entries(t, rdb, name, stream.Decode) {
		got[m.ID]++
	}
	return got
}

// wantPublishedOnce checks that the stream name holds each of ids once,
// and nothing else.
func wantPublishedOnce(t *testing.T, rdb redis.UniversalClient, name string, ids []string) {
	t.Helper()
	if diff := cmp.Diff(onceEach(ids), published(t, rdb, name)); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
}

func onceEach(ids []string) map[string]int {
	m := map[string]int{}
	for _, id := range ids {
		m[id] = 1
	}
	return m
}

func TestRelayPublishesCommittedOnly(t *testing.T) {
	t.Parallel()
	pool, rdb := setup(t)
	name := testenv.Name(t, "s")
	ob := outbox.New(pool, rdb, stream.NewPublisher(rdb, nil), "svc", outbox.Config{}, testenv.Logger(t))
	committed := add(t, ob, pool, name, 3, true)
	add(t, ob, pool, name, 2, false)
	n, err := ob.RelayOnce(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("RelayOnce = %d, %v; want 3", n, err)
	}
	wantPublishedOnce(t, rdb, name, committed)
	if p, err := ob.Pending(context.Background()); err != nil || p != 0 {
		t.Errorf("Pending = %d, %v; want 0", p, err)
	}
}

func TestPublishedRecordsEachBatchInItsTransaction(t *testing.T) {
	t.Parallel()
	pool, rdb := setup(t)
	ctx := t.Context()
	name := testenv.Name(t, "s")
	if _, err := pool.Exec(ctx, "CREATE TABLE svc.relayed (event_id text PRIMARY KEY, sent_at timestamptz NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Bool
	refuse.Store(true)
	record := func(ctx context.Context, tx pgx.Tx, sentAt time.Time, evs []stream.Event) error {
		if refuse.Load() {
			return errors.New("refused")
		}
		for _, e := range evs {
			if _, err := tx.Exec(ctx, "INSERT INTO svc.relayed VALUES ($1, $2)", e.ID, sentAt); err != nil {
				return err
			}
		}
		return nil
	}
	ob := outbox.New(pool, rdb, stream.NewPublisher(rdb, nil), "svc", outbox.Config{Published: record}, testenv.Logger(t))
	ids := add(t, ob, pool, name, 3, true)

	// A refusal fails the batch like a failed commit: the rows stay, to
	// be published again.
	if n, err := ob.RelayOnce(ctx); err == nil {
		t.Fatalf("RelayOnce with a refusing Published = %d, nil; want an error", n)
	}
	if p, err := ob.Pending(ctx); err != nil || p != 3 {
		t.Errorf("Pending after a refused batch = %d, %v; want 3", p, err)
	}

	refuse.Store(false)
	before := time.Now()
	if n, err := ob.RelayOnce(ctx); err != nil || n != 3 {
		t.Fatalf("RelayOnce = %d, %v; want 3", n, err)
	}
	rows, err := pool.Query(ctx, "SELECT event_id, sent_at FROM svc.relayed")
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]time.Time{}
	var (
		id string
		at time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error { sent[id] = at; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(sent) != len(ids) {
		t.Fatalf("Published recorded %v, want the events %v", sent, ids)
	}
	// sentAt comes before the entries: no consumer can read one earlier.
	last := map[string]time.Time{}
	for _, m := range testenv.Entries(t, rdb, name, stream.Decode) {
		ms, _, _ := strings.Cut(m.EntryID, "-")
		n, _ := strconv.ParseInt(ms, 10, 64)
		last[m.ID] = time.UnixMilli(n)
	}
	for _, id := range ids {
		at, ok := sent[id]
		if !ok || at.Before(before.Truncate(time.Microsecond)) || at.Truncate(time.Millisecond).After(last[id]) {
			t.Errorf("event %s: sent at %v (recorded %v), want between %v and its entry's time %v", id, at, ok, before, last[id])
		}
	}
}

func TestALingeringRelayPublishesWhatCommitsMeanwhileInOneBatch(t *testing.T) {
	t.Parallel()
	pool, rdb := setup(t)
	name := testenv.Name(t, "s")
	var (
		mu    sync.Mutex
		sizes []int
	)
	record := func(_ context.Context, _ pgx.Tx, _ time.Time, evs []stream.Event) error {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(evs))
		return nil
	}
	seen := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(sizes)
	}
	ob := outbox.New(pool, rdb, stream.NewPublisher(rdb, nil), "svc",
		outbox.Config{Linger: 3 * time.Second, Poll: time.Minute, Published: record}, testenv.Logger(t))
	testenv.Run(t, ob.Run)

	// The first row after a quiet spell goes out when it is kicked; the two
	// committed (and kicked) while the relay lingers after it, together.
	ids := add(t, ob, pool, name, 1, true)
	ob.Kick()
	testenv.WaitFor(t, 10*time.Second, "the first row relayed", func() bool { return len(seen()) == 1 })
	for range 2 {
		ids = append(ids, add(t, ob, pool, name, 1, true)...)
		ob.Kick()
	}
	// Published runs after the XADDs: wait for it, not for the entries.
	testenv.WaitFor(t, 10*time.Second, "the next two relayed", func() bool { return len(seen()) == 2 })
	if diff := cmp.Diff([]int{1, 2}, seen()); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
	wantPublishedOnce(t, rdb, name, ids)
}

func TestConcurrentRelaysPublishEachRowOnce(t *testing.T) {
	t.Parallel()
	pool, rdb := setup(t)
	name := testenv.Name(t, "s")
	pub := stream.NewPublisher(rdb, nil)
	var ids []string
	writer := outbox.New(pool, rdb, pub, "svc", outbox.Config{}, testenv.Logger(t))
	for range 20 {
		ids = append(ids, add(t, writer, pool, name, 50, true)...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		relay := outbox.New(pool, rdb, pub, "svc", outbox.Config{Batch: 37, Poll: 10 * time.Millisecond}, testenv.Logger(t))
		wg.Go(func() { _ = relay.Run(ctx) })
	}
	testenv.WaitFor(t, 20*time.Second, "outbox drained", func() bool {
		p, err := writer.Pending(context.Background())
		return err == nil && p == 0
	})
	cancel()
	wg.Wait()
	wantPublishedOnce(t, rdb, name, ids)
}

func TestRelayKeepsRowsWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	pool, rdb := setup(t)
	name := testenv.Name(t, "s")
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer down.Close()
	ob := outbox.New(pool, down, stream.NewPublisher(down, nil), "svc", outbox.Config{}, testenv.Logger(t))
	ids := add(t, ob, pool, name, 5, true)
	if _, err := ob.RelayOnce(context.Background()); err == nil {
		t.Fatal("RelayOnce succeeded with Redis down")
	}
	if p, _ := ob.Pending(context.Background()); p != 5 {
		t.Fatalf("Pending = %d after a failed relay, want 5", p)
	}
	up := outbox.New(pool, rdb, stream.NewPublisher(rdb, nil), "svc", outbox.Config{}, testenv.Logger(t))
	if n, err := up.RelayOnce(context.Background()); err != nil || n != 5 {
		t.Fatalf("RelayOnce after Redis is back = %d, %v", n, err)
	}
	wantPublishedOnce(t, rdb, name, ids)
}

func TestPruneForgetsOnlyEventIDsOlderThanKeepProcessed(t *testing.T) {
	t.Parallel()
	pool, _ := setup(t)
	ctx := context.Background()
	ob := outbox.New(pool, nil, nil, "svc", outbox.Config{KeepProcessed: time.Hour}, testenv.Logger(t))
	apply := func(ids ...string) []string {
		var fresh []string
		err := outbox.Apply(ctx, ob, ids, same, func(_ context.Context, _ pgx.Tx, f []string) ([]*outbox.Message, error) {
			fresh = f
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	apply("a", "b")
	if _, err := pool.Exec(ctx, `UPDATE svc.processed_events SET processed_at = now() - interval '2 hours' WHERE event_id = 'a'`); err != nil {
		t.Fatal(err)
	}
	if n, err := ob.Prune(ctx); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if diff := cmp.Diff([]string{"a"}, apply("a", "b")); diff != "" {
		t.Errorf("fresh after prune (-want +got):\n%s", diff)
	}
}

// relayDelays is outbox.Metrics that keeps the delays it observes.
type relayDelays struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *relayDelays) Relayed(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delays = append(r.delays, d)
}

func TestTheBacklogAndTheRelayDelayAreMeasuredFromTheWrite(t *testing.T) {
	t.Parallel()
	pool, rdb := setup(t)
	ctx := context.Background()
	delays := &relayDelays{}
	ob := outbox.New(pool, rdb, stream.NewPublisher(rdb, nil), "svc", outbox.Config{Metrics: delays}, testenv.Logger(t))
	name := testenv.Name(t, "backlog")

	if n, oldest, err := outbox.Backlog(ctx, pool, "svc"); err != nil || n != 0 || oldest != 0 {
		t.Fatalf("Backlog of an empty outbox: %d, %v, %v; want 0, 0", n, oldest, err)
	}
	add(t, ob, pool, name, 3, true)
	const wait = 300 * time.Millisecond
	time.Sleep(wait) // the rows' age, which Backlog and the relay measure
	n, oldest, err := outbox.Backlog(ctx, pool, "svc")
	if err != nil || n != 3 || oldest < wait || oldest > wait+10*time.Second {
		t.Errorf("Backlog: %d, %v, %v; want 3 rows, the oldest at least %v old", n, oldest, err, wait)
	}
	if got, err := ob.RelayOnce(ctx); err != nil || got != 3 {
		t.Fatalf("RelayOnce: %d, %v; want 3", got, err)
	}
	if len(delays.delays) != 3 {
		t.Fatalf("the relay observed %d delays, want one per row, 3", len(delays.delays))
	}
	for _, d := range delays.delays {
		if d < wait || d > wait+10*time.Second {
			t.Errorf("relay delay %v, want at least the %v the rows waited", d, wait)
		}
	}
	if n, oldest, err := outbox.Backlog(ctx, pool, "svc"); err != nil || n != 0 || oldest != 0 {
		t.Errorf("Backlog after the relay: %d, %v, %v; want 0, 0", n, oldest, err)
	}
}
