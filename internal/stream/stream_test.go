package stream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fixture is one test's stream, group and publisher on the shared Redis.
type fixture struct {
	t      *testing.T
	rdb    redis.UniversalClient
	stream string
	group  string
	pub    *stream.Publisher
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb := testenv.Redis(t)
	return &fixture{
		t:      t,
		rdb:    rdb,
		stream: testenv.Name(t, "s"),
		group:  "g",
		pub:    stream.NewPublisher(rdb, nil),
	}
}

// abandon creates the group and reads up to count entries (0: all) as
// consumer, which then dies without acknowledging them.
func (f *fixture) abandon(consumer string, count int64) []redis.XStream {
	f.t.Helper()
	ctx := context.Background()
	if err := f.rdb.XGroupCreateMkStream(ctx, f.stream, f.group, "0").Err(); err != nil {
		f.t.Fatal(err)
	}
	read, err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: f.group, Consumer: consumer, Streams: []string{f.stream, ">"}, Count: count,
	}).Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return read
}

// reclaimConfig is config with minIdle, which decides how soon an
// abandoned entry is reclaimed.
func (f *fixture) reclaimConfig(minIdle time.Duration) stream.Config {
	cfg := f.config()
	cfg.MinIdle = minIdle
	return cfg
}

// config returns a consumer config with timings short enough for tests.
func (f *fixture) config() stream.Config {
	return stream.Config{
		Stream:          f.stream,
		Group:           f.group,
		Block:           200 * time.Millisecond,
		MinIdle:         time.Second,
		ClaimInterval:   100 * time.Millisecond,
		RetryBackoff:    10 * time.Millisecond,
		MaxRetryBackoff: 50 * time.Millisecond,
		MaxDeliveries:   3,
		ShutdownTimeout: 5 * time.Second,
		Logger:          testenv.Logger(f.t),
	}
}

// publish appends n events of type "Tested" with field n=i and returns
// their event ids in order.
func (f *fixture) publish(n int) []string {
	f.t.Helper()
	return f.publishIn(f.rdb.Pipeline(), n)
}

// publishIn is publish through pipe.
func (f *fixture) publishIn(pipe redis.Pipeliner, n int) []string {
	f.t.Helper()
	ids := make([]string, n)
	for i := range n {
		e := stream.Event{Type: "Tested", Fields: map[string]string{"n": strconv.Itoa(i)}}
		if _, err := f.pub.Append(context.Background(), pipe, f.stream, &e); err != nil {
			f.t.Fatal(err)
		}
		ids[i] = e.ID
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// run starts c and returns a function that stops it and waits for Run.
func run(tb testing.TB, c *stream.Consumer) (stop func()) {
	return testenv.Run(tb, c.Run)
}

// consume starts a consumer of cfg with h for the length of t; stop
// stops it early and waits for it.
func consume(t *testing.T, rdb redis.UniversalClient, cfg stream.Config, h stream.Handler) (c *stream.Consumer, stop func()) {
	t.Helper()
	c, err := stream.NewConsumer(rdb, cfg, h)
	return started(t, c, err)
}

// consumeBatches is consume for a batch handler.
func consumeBatches(t *testing.T, rdb redis.UniversalClient, cfg stream.Config, h stream.BatchHandler) (c *stream.Consumer, stop func()) {
	t.Helper()
	c, err := stream.NewBatchConsumer(rdb, cfg, h)
	return started(t, c, err)
}

// started runs c, just made with the error err, as consume does, failing
// the test if making it failed.
func started(t *testing.T, c *stream.Consumer, err error) (*stream.Consumer, func()) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return c, run(t, c)
}

// record starts a consumer of cfg on the fixture's Redis that records
// each entry as handled, for the length of the test.
func (f *fixture) record(cfg stream.Config) (*recorder, *stream.Consumer) {
	f.t.Helper()
	rec := newRecorder()
	c, _ := consume(f.t, f.rdb, cfg, rec.handle)
	return rec, c
}

// consumeFailing starts a consumer of cfg on the fixture's Redis that
// records each delivery and fails it with fail's error; when fail returns
// nil, it records the entry as handled.
func (f *fixture) consumeFailing(cfg stream.Config, fail func(stream.Message) error) (*recorder, *stream.Consumer) {
	f.t.Helper()
	rec := newRecorder()
	c, _ := consume(f.t, f.rdb, cfg, func(_ context.Context, m stream.Message) error {
		rec.saw(m)
		if err := fail(m); err != nil {
			return err
		}
		rec.ok(m)
		return nil
	})
	return rec, c
}

// recorder remembers what a handler saw.
type recorder struct {
	mu         sync.Mutex
	count      map[string]int     // event id → times handled successfully
	deliveries map[string][]int64 // event id → Deliveries of each call
}

func newRecorder() *recorder {
	return &recorder{count: map[string]int{}, deliveries: map[string][]int64{}}
}

func (r *recorder) saw(m stream.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries[m.ID] = append(r.deliveries[m.ID], m.Deliveries)
}

func (r *recorder) ok(m stream.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count[m.ID]++
}

func (r *recorder) handled() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count)
}

func (r *recorder) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.count))
	for k, v := range r.count {
		out[k] = v
	}
	return out
}

// handle is a Handler that records each message as handled.
func (r *recorder) handle(_ context.Context, m stream.Message) error {
	r.ok(m)
	return nil
}

// wantCounts checks how often each event id was handled.
func (r *recorder) wantCounts(t *testing.T, want map[string]int) {
	t.Helper()
	wantHandled(t, want, r.counts())
}

// wantHandled checks got, how often each event id was handled, against
// want.
func wantHandled(t *testing.T, want, got map[string]int) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("handled counts (-want +got):\n%s", diff)
	}
}

// wantDeliveries checks the Deliveries that the handler saw in each of its
// calls for id, the event id of the entry that what names.
func (r *recorder) wantDeliveries(t *testing.T, what, id string, want []int64) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if diff := cmp.Diff(want, r.deliveries[id]); diff != "" {
		t.Errorf("deliveries of %s (-want +got):\n%s", what, diff)
	}
}

func onceEach(ids []string) map[string]int {
	m := make(map[string]int, len(ids))
	for _, id := range ids {
		m[id] = 1
	}
	return m
}

// consumeBacklog publishes n entries and only then starts a batch
// consumer of cfg, so that its first read finds them all waiting. Its
// handler fails each batch as fail says (nil: never); it returns the
// handler and the entries' event ids.
func (f *fixture) consumeBacklog(cfg stream.Config, n int, fail failFunc) (*batches, []string) {
	f.t.Helper()
	b := &batches{rec: newRecorder(), fail: fail}
	ids := f.publish(n)
	consumeBatches(f.t, f.rdb, cfg, b.handle)
	return b, ids
}

// failFunc returns the error of msgs, the calls-th batch, or nil to
// handle it.
type failFunc func(ctx context.Context, msgs []stream.Message, calls int) error

// batches is a batch handler that records the size of each batch it is
// given and hands the entries of a batch that fail passes to rec.
type batches struct {
	rec  *recorder
	fail failFunc

	mu    sync.Mutex
	sizes []int
}

func (b *batches) handle(ctx context.Context, msgs []stream.Message) error {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(msgs))
	calls := len(b.sizes)
	b.mu.Unlock()
	if b.fail != nil {
		if err := b.fail(ctx, msgs, calls); err != nil {
			return err
		}
	}
	for _, m := range msgs {
		b.rec.ok(m)
	}
	return nil
}

// seen returns the sizes of the batches given so far, in order.
func (b *batches) seen() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sizes)
}

// wantEachHandledOnce waits until rec has handled each of ids and the
// group has nothing pending, then checks that each was handled once.
func (f *fixture) wantEachHandledOnce(rec *recorder, ids []string, within time.Duration, what string) {
	f.t.Helper()
	testenv.WaitFor(f.t, within, what, func() bool { return rec.handled() == len(ids) && f.settled() })
	rec.wantCounts(f.t, onceEach(ids))
}

// settled reports whether the group has read everything and has nothing
// pending.
func (f *fixture) settled() bool {
	info, err := stream.Inspect(context.Background(), f.rdb, f.stream)
	if err != nil || len(info.Groups) == 0 {
		return false
	}
	g := info.Groups[0]
	return g.Lag == 0 && g.Pending == 0
}

// wantNoDeadLetters checks that nothing was dead-lettered.
func (f *fixture) wantNoDeadLetters() {
	f.t.Helper()
	if dl := f.deadLetters(); len(dl) != 0 {
		f.t.Errorf("dead letters: %+v, want none", dl)
	}
}

// oneDeadLetter waits until rec has handled handled entries, the group
// has nothing left to read or pending and exactly one entry is
// dead-lettered, and returns that dead letter.
func (f *fixture) oneDeadLetter(rec *recorder, handled int, within time.Duration) stream.DeadLetter {
	f.t.Helper()
	what := fmt.Sprintf("%d entries handled and one dead-lettered", handled)
	testenv.WaitFor(f.t, within, what, func() bool {
		return rec.handled() == handled && f.settled() && len(f.deadLetters()) == 1
	})
	return f.deadLetters()[0]
}

func (f *fixture) deadLetters() []stream.DeadLetter {
	f.t.Helper()
	dl, err := stream.DeadLetters(context.Background(), f.rdb, stream.DeadLetterStream(f.stream), 100)
	if err != nil {
		f.t.Fatal(err)
	}
	return dl
}

func TestPublishAndConsume(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := newRecorder()
	var mu sync.Mutex
	got := map[string]stream.Message{}
	consume(t, f.rdb, f.config(), func(ctx context.Context, m stream.Message) error {
		mu.Lock()
		got[m.ID] = m
		mu.Unlock()
		rec.ok(m)
		return nil
	})
	ids := f.publish(250)
	f.wantEachHandledOnce(rec, ids, 10*time.Second, "all entries handled and acked")
	mu.Lock()
	defer mu.Unlock()
	for i, id := range ids {
		m := got[id]
		if m.Type != "Tested" || m.Version != 1 || m.Fields["n"] != strconv.Itoa(i) || m.Deliveries != 1 || m.Stream != f.stream {
			t.Errorf("event %d arrived as %+v", i, m)
		}
		if time.Since(m.Time) > time.Minute {
			t.Errorf("event %d has time %v", i, m.Time)
		}
	}
	f.wantNoDeadLetters()
}

func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec, _ := f.consumeFailing(f.config(), func(m stream.Message) error {
		if m.Fields["n"] == "3" && m.Deliveries < 3 {
			return errors.New("transient")
		}
		return nil
	})
	ids := f.publish(10)
	f.wantEachHandledOnce(rec, ids, 10*time.Second, "all handled")
	rec.wantDeliveries(t, "the failing entry", ids[3], []int64{1, 2, 3})
	f.wantNoDeadLetters()
}

func TestUnavailableIsRetriedPastMaxDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := newRecorder()
	var first string // the event id of the first entry
	var redisCount int64
	c, err := stream.NewBatchConsumer(f.rdb, f.config(), func(ctx context.Context, msgs []stream.Message) error {
		down := false
		for _, m := range msgs {
			rec.saw(m)
			rec.mu.Lock()
			// The database is down for the first eight deliveries of the
			// first entry, more than MaxDeliveries (3).
			if n := len(rec.deliveries[first]); m.ID == first && n <= 8 {
				down = true
				if n == 8 {
					p, err := f.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: f.stream, Group: f.group, Start: m.EntryID, End: m.EntryID, Count: 1}).Result()
					if err == nil && len(p) == 1 {
						redisCount = p[0].RetryCount
					}
				}
			}
			rec.mu.Unlock()
		}
		if down {
			return stream.Unavailable(errors.New("database is down"))
		}
		for _, m := range msgs {
			rec.ok(m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := f.publish(3) // before Run: one batch
	first = ids[0]
	run(t, c)
	f.wantEachHandledOnce(rec, ids, 20*time.Second, "handled after the outage")
	f.wantNoDeadLetters()
	rec.wantDeliveries(t, "the first entry", ids[0], []int64{1, 1, 1, 1, 1, 1, 1, 1, 1})
	if redisCount != 1 {
		t.Errorf("Redis counted %d deliveries during the outage, want 1", redisCount)
	}
}

func TestPoisonEntryIsDeadLetteredAndOthersGoOn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec, c := f.consumeFailing(f.config(), func(m stream.Message) error {
		if m.Fields["n"] == "5" {
			return errors.New("cannot handle five")
		}
		return nil
	})
	ids := f.publish(20)
	dl := f.oneDeadLetter(rec, 19, 10*time.Second)
	want := stream.DeadLetter{
		ID: dl.ID, OriginStream: f.stream, OriginID: dl.OriginID, Group: f.group, Consumer: c.Name(),
		Error: "cannot handle five", Attempts: 3, Time: dl.Time, Fields: dl.Fields,
	}
	if diff := cmp.Diff(want, dl); diff != "" {
		t.Errorf("dead letter (-want +got):\n%s", diff)
	}
	if dl.Fields[stream.FieldEventID] != ids[5] || dl.Fields["n"] != "5" || dl.OriginID == "" {
		t.Errorf("dead letter lost the original entry: %+v", dl)
	}
	rec.wantDeliveries(t, "the poison entry", ids[5], []int64{1, 2, 3})
}

func TestMalformedEntryIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec, _ := f.record(f.config())
	ctx := context.Background()
	// No envelope: a producer that does not use this package.
	bad, err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: f.stream, Values: []any{"orderId", "1"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := f.publish(3)
	dl := f.oneDeadLetter(rec, 3, 10*time.Second)
	if dl.OriginID != bad || dl.Attempts != 1 || dl.Fields["orderId"] != "1" {
		t.Errorf("dead letter = %+v, want origin %s after 1 attempt", dl, bad)
	}
	rec.wantCounts(t, onceEach(ids))
}

func TestPermanentErrorAndPanic(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec, _ := f.consumeFailing(f.config(), func(m stream.Message) error {
		switch {
		case m.Fields["n"] == "0":
			return stream.Permanent(errors.New("invalid order"))
		case m.Fields["n"] == "1" && m.Deliveries == 1:
			panic("boom")
		}
		return nil
	})
	ids := f.publish(3)
	if dl := f.oneDeadLetter(rec, 2, 10*time.Second); dl.Attempts != 1 || dl.Error != "invalid order" {
		t.Errorf("permanent failure dead letter = %+v, want 1 attempt", dl)
	}
	rec.wantDeliveries(t, "the panicking entry", ids[1], []int64{1, 2})
}

func TestBatchFailureIsIsolated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.Count = 50
	// The 40 entries are read in one batch.
	b, ids := f.consumeBacklog(cfg, 40, func(_ context.Context, msgs []stream.Message, _ int) error {
		for _, m := range msgs {
			if m.Fields["n"] == "7" {
				return fmt.Errorf("entry %s is bad", m.EntryID)
			}
		}
		return nil
	})
	f.oneDeadLetter(b.rec, 39, 10*time.Second)
	want := onceEach(ids)
	delete(want, ids[7])
	b.rec.wantCounts(t, want)
	if sizes := b.seen(); sizes[0] != 40 {
		t.Errorf("first batch had %d entries, want 40", sizes[0])
	}
}

func TestConcurrentConsumersShareWork(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := newRecorder()
	for range 3 {
		cfg := f.config()
		cfg.Concurrency = 4
		cfg.Count = 20
		consume(t, f.rdb, cfg, rec.handle)
	}
	var ids []string
	for range 10 {
		ids = append(ids, f.publish(200)...)
	}
	f.wantEachHandledOnce(rec, ids, 20*time.Second, "all handled")
	info, err := stream.Inspect(context.Background(), f.rdb, f.stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(info.Groups[0].Consumers); n != 3 {
		t.Errorf("group has %d consumers, want 3 with distinct names", n)
	}
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.Block = time.Minute // shutdown must not wait for the blocked read
	cfg.MinIdle = 2 * time.Minute
	started := make(chan struct{})
	release := make(chan struct{})
	var finished []string
	var mu sync.Mutex
	c, err := stream.NewConsumer(f.rdb, cfg, func(ctx context.Context, m stream.Message) error {
		if m.Fields["n"] == "0" {
			close(started)
			<-release
		}
		mu.Lock()
		finished = append(finished, m.ID)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	consumer := testenv.Start(t, "the consumer", 10*time.Second, c.Run)
	f.publish(1)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the handler was never called")
	}
	// Stop cancels Run's context at once, then waits up to 10s for Run,
	// failing the test if it does not return.
	stopped := make(chan error, 1)
	go func() { stopped <- consumer.Stop() }()
	select {
	case <-stopped:
		t.Fatal("Run returned while a handler was still in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
	if !f.settled() {
		t.Error("the drained entry was not acknowledged")
	}

	// An idle consumer stops at once, though its read blocks for a minute.
	c2, err := stream.NewConsumer(f.rdb, cfg, func(context.Context, stream.Message) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	idle := testenv.Start(t, "the idle consumer", 10*time.Second, c2.Run)
	testenv.WaitFor(t, 5*time.Second, "second consumer blocked in XREADGROUP", func() bool {
		list := f.rdb.ClientList(context.Background()).Val()
		for _, line := range strings.Split(list, "\n") {
			if strings.Contains(line, " name="+c2.Name()+" ") && strings.Contains(line, " cmd=xreadgroup") {
				return true
			}
		}
		return false
	})
	begin := time.Now()
	if err := idle.Stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("idle consumer took %v to stop; the blocked read held it", d)
	}
}

func TestNoGroupRecovery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec, _ := f.record(f.config())
	first := f.publish(5)
	testenv.WaitFor(t, 10*time.Second, "first events", func() bool { return rec.handled() == 5 })

	// Deleting the stream deletes its groups: the next read gets NOGROUP.
	if err := f.rdb.Del(context.Background(), f.stream).Err(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "group recreated", func() bool {
		info, err := stream.Inspect(context.Background(), f.rdb, f.stream)
		return err == nil && len(info.Groups) == 1
	})
	second := f.publish(5)
	testenv.WaitFor(t, 10*time.Second, "events after recovery", func() bool { return rec.handled() == 10 && f.settled() })
	rec.wantCounts(t, onceEach(append(first, second...)))
}

func TestReclaimReportsTrimmedEntries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.publish(10)
	// A consumer reads everything and dies without acking.
	f.abandon("dead", 10)
	// Retention trims the first six while they are pending.
	if err := f.rdb.XTrimMaxLen(context.Background(), f.stream, 4).Err(); err != nil {
		t.Fatal(err)
	}
	rec, _ := f.record(f.reclaimConfig(200 * time.Millisecond))
	testenv.WaitFor(t, 10*time.Second, "surviving entries reclaimed", func() bool { return rec.handled() == 4 && f.settled() })
	rec.wantCounts(t, onceEach(ids[6:]))
}

func TestCrashLoopingEntryIsDeadLettered(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ids := f.publish(1)
	entries := f.abandon("crasher-1", 0)
	// Three more consumers took it over and died on it too.
	for i := 2; i <= 4; i++ {
		if err := f.rdb.XClaim(ctx, &redis.XClaimArgs{
			Stream: f.stream, Group: f.group, Consumer: fmt.Sprintf("crasher-%d", i),
			Messages: []string{entries[0].Messages[0].ID},
		}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	called := make(chan struct{}, 1)
	consume(t, f.rdb, f.reclaimConfig(200*time.Millisecond), func(ctx context.Context, m stream.Message) error {
		called <- struct{}{}
		return nil
	})
	testenv.WaitFor(t, 10*time.Second, "dead-lettered", func() bool { return f.settled() && len(f.deadLetters()) == 1 })
	dl := f.deadLetters()[0]
	if dl.Attempts != 5 || dl.Fields[stream.FieldEventID] != ids[0] {
		t.Errorf("dead letter = %+v, want the entry after 5 deliveries", dl)
	}
	select {
	case <-called:
		t.Error("handler was called for an entry past its max deliveries")
	default:
	}
}

func TestReplayDeadLetter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := newRecorder()
	var mu sync.Mutex
	broken := true
	consume(t, f.rdb, f.config(), func(ctx context.Context, m stream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return stream.Permanent(errors.New("bug"))
		}
		rec.ok(m)
		return nil
	})
	ids := f.publish(1)
	dl := f.oneDeadLetter(rec, 0, 10*time.Second)

	mu.Lock()
	broken = false // the bug is fixed
	mu.Unlock()
	if _, err := stream.Replay(context.Background(), f.rdb, stream.DeadLetterStream(f.stream), dl.ID); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "replayed entry handled", func() bool { return rec.handled() == 1 && f.settled() })
	rec.wantCounts(t, onceEach(ids))
	if n := len(f.deadLetters()); n != 0 {
		t.Errorf("%d dead letters left after replay, want 0", n)
	}
	if _, err := stream.Replay(context.Background(), f.rdb, stream.DeadLetterStream(f.stream), dl.ID); !errors.Is(err, stream.ErrNotFound) {
		t.Errorf("second replay: err = %v, want ErrNotFound", err)
	}
}

// TestReplayRefusesADeadLetterClaimingAnotherStream puts in a stream's
// dead-letter stream an entry that claims to come from another stream,
// as a user allowed to dead-letter the first could: Replay refuses to
// append it to the other stream.
func TestReplayRefusesADeadLetterClaimingAnotherStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	other := testenv.Name(t, "other")
	dlq := stream.DeadLetterStream(f.stream)
	id, err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: dlq, Values: []any{
		stream.FieldEventID, stream.NewID(), stream.FieldEventType, "PaymentProcessed", "dlq.originStream", other,
	}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Replay(ctx, f.rdb, dlq, id); err == nil {
		t.Errorf("Replay of an entry of %s claiming origin %s succeeded", dlq, other)
	}
	if n, err := f.rdb.XLen(ctx, other).Result(); err != nil || n != 0 {
		t.Errorf("%s has %d entries (%v), want none", other, n, err)
	}
}

func TestInspect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	info, err := stream.Inspect(ctx, f.rdb, f.stream)
	if err != nil || info.Length != 0 || len(info.Groups) != 0 {
		t.Fatalf("missing stream: %+v, %v", info, err)
	}
	f.publish(10)
	f.abandon("c1", 4)
	info, err = stream.Inspect(ctx, f.rdb, f.stream)
	if err != nil {
		t.Fatal(err)
	}
	g := info.Groups[0]
	if info.Length != 10 || g.Lag != 6 || g.Pending != 4 || g.OldestPendingID != info.FirstID ||
		len(g.Consumers) != 1 || g.Consumers[0].Pending != 4 || g.OldestPendingAge < 0 {
		t.Errorf("Inspect = %+v", info)
	}
}

func TestBehindIsTheAgeOfTheOldestEntryTheGroupHasNotFinished(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	behind := func() time.Duration {
		t.Helper()
		d, err := stream.Behind(ctx, f.rdb, f.stream, f.group)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := behind(); d != 0 {
		t.Errorf("Behind of a stream that does not exist = %v, want 0", d)
	}
	// Entries appended 3 and 2 minutes ago, as their ids say.
	now := time.Now()
	for _, ago := range []time.Duration{3 * time.Minute, 2 * time.Minute} {
		id := fmt.Sprintf("%d-0", now.Add(-ago).UnixMilli())
		if err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: f.stream, ID: id, Values: []string{"k", "v"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	near := func(d, want time.Duration) bool { return d >= want && d < want+time.Minute }
	if d := behind(); !near(d, 3*time.Minute) {
		t.Errorf("Behind with no group yet = %v, want about 3m (it has read nothing)", d)
	}
	read := f.abandon("c", 1) // the 3-minute entry is pending
	if d := behind(); !near(d, 3*time.Minute) {
		t.Errorf("Behind with the oldest entry pending = %v, want about 3m", d)
	}
	if err := f.rdb.XAck(ctx, f.stream, f.group, read[0].Messages[0].ID).Err(); err != nil {
		t.Fatal(err)
	}
	if d := behind(); !near(d, 2*time.Minute) {
		t.Errorf("Behind with the newer entry unread = %v, want about 2m", d)
	}
	rest, err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: f.group, Consumer: "c", Streams: []string{f.stream, ">"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.XAck(ctx, f.stream, f.group, rest[0].Messages[0].ID).Err(); err != nil {
		t.Fatal(err)
	}
	if d := behind(); d != 0 {
		t.Errorf("Behind with every entry acknowledged = %v, want 0", d)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  stream.Config
		ok   bool
	}{
		{"defaults", stream.Config{Stream: "s", Group: "g"}, true},
		{"no stream", stream.Config{Group: "g"}, false},
		{"no group", stream.Config{Stream: "s"}, false},
		// A consumer renews the entries it works on, so a handler may take longer than MinIdle.
		{"handler timeout above min idle", stream.Config{Stream: "s", Group: "g", MinIdle: time.Second, HandlerTimeout: time.Minute}, true},
		{"long block, short min idle", stream.Config{Stream: "s", Group: "g", MinIdle: time.Second, Block: time.Minute}, true},
		{"removing consumers sooner than min idle", stream.Config{Stream: "s", Group: "g", MinIdle: time.Minute, RemoveIdleAfter: time.Second}, false},
		{"negative handler timeout", stream.Config{Stream: "s", Group: "g", HandlerTimeout: -time.Second}, false},
		{"dlq is the stream", stream.Config{Stream: "s", Group: "g", DeadLetterStream: "s"}, false},
		{"negative count", stream.Config{Stream: "s", Group: "g", Count: -1}, false},
		{"eight partitions", stream.Config{Stream: "s", Group: "g", Partitions: 8}, true},
		{"the most partitions", stream.Config{Stream: "s", Group: "g", Partitions: stream.MaxPartitions}, true},
		{"too many partitions", stream.Config{Stream: "s", Group: "g", Partitions: stream.MaxPartitions + 1}, false},
		{"negative partitions", stream.Config{Stream: "s", Group: "g", Partitions: -1}, false},
		{"one dead-letter stream for all partitions", stream.Config{Stream: "s", Group: "g", Partitions: 2, DeadLetterStream: "s-dlq"}, false},
		{"a brace in the name", stream.Config{Stream: "{s}", Group: "g"}, false},
		{"count below the default min count", stream.Config{Stream: "s", Group: "g", Count: 10}, true},
		{"min count above count", stream.Config{Stream: "s", Group: "g", MinCount: 200, Count: 100}, false},
		{"negative min count", stream.Config{Stream: "s", Group: "g", MinCount: -1}, false},
		{"ack delay a fifth of min idle", stream.Config{Stream: "s", Group: "g", MinIdle: time.Second, AckDelay: 200 * time.Millisecond}, true},
		{"ack delay above a fifth of min idle", stream.Config{Stream: "s", Group: "g", MinIdle: time.Second, AckDelay: 201 * time.Millisecond}, false},
		{"ack delay as long as min idle", stream.Config{Stream: "s", Group: "g", AckDelay: 5 * time.Second}, false},
		{"negative ack delay", stream.Config{Stream: "s", Group: "g", AckDelay: -time.Millisecond}, false},
		// The default adapts to a short MinIdle.
		{"default ack delay, short min idle", stream.Config{Stream: "s", Group: "g", MinIdle: 100 * time.Millisecond}, true},
		{"linger", stream.Config{Stream: "s", Group: "g", Linger: 15 * time.Millisecond}, true},
		{"negative linger", stream.Config{Stream: "s", Group: "g", Linger: -time.Millisecond}, false},
		{"linger as long as block", stream.Config{Stream: "s", Group: "g", Linger: time.Second, Block: time.Second}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestPublishRejectsBadEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, e := range []stream.Event{
		{Fields: map[string]string{"a": "b"}},
		{Type: "T", Fields: map[string]string{stream.FieldEventID: "x"}},
		{Type: "T", Fields: map[string]string{"dlq.error": "x"}},
	} {
		if _, err := f.pub.Publish(ctx, f.stream, e); err == nil {
			t.Errorf("Publish(%+v) succeeded, want an error", e)
		}
	}
	if n := f.rdb.XLen(ctx, f.stream).Val(); n != 0 {
		t.Errorf("stream has %d entries after rejected publishes", n)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	name := testenv.Name(t, "s")
	pub := stream.NewPublisher(rdb, map[string]stream.Retention{name: {MaxLen: 100}})
	for i := range 2000 {
		if _, err := pub.Publish(context.Background(), name, stream.Event{Type: "T", Fields: map[string]string{"i": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Approximate trimming keeps at least MaxLen and about one macro node more.
	if n := rdb.XLen(context.Background(), name).Val(); n < 100 || n > 300 {
		t.Errorf("stream length %d after 2000 appends with MaxLen ~100", n)
	}
}

func TestRetentionByAge(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := testenv.Redis(t)
	name := testenv.Name(t, "s")
	// 300 entries from 1970, then one now with MaxAge an hour.
	for i := 1; i <= 300; i++ {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: name, ID: "1-" + strconv.Itoa(i), Values: []any{"old", "1"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	pub := stream.NewPublisher(rdb, map[string]stream.Retention{name: {MaxAge: time.Hour}})
	id, err := pub.Publish(ctx, name, stream.Event{Type: "T", Fields: map[string]string{"new": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	// Whole nodes of old entries go; the node the new entry joined may
	// keep a few of them.
	entries, err := rdb.XRange(ctx, name, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 150 || entries[len(entries)-1].ID != id {
		t.Errorf("%d entries after an append with MaxAge 1h to 300 from 1970, last %s; want the old mostly gone and %s kept",
			len(entries), entries[len(entries)-1].ID, id)
	}
}
