package stream_test

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// The crash tests run a consumer in a child process: this test binary,
// re-executed to run only TestConsumerProcess with these variables set.
const (
	envChildRedis  = "STREAMCART_CHILD_REDIS_URL"
	envChildStream = "STREAMCART_CHILD_STREAM"
	envChildMode   = "STREAMCART_CHILD_MODE" // "", "hold" or "ackwait"
)

// TestConsumerProcess is the child's consumer, with the default timings.
// It runs until it is killed. In the default mode it records each handled
// event id in the set "<stream>:handled", one message at a time with a
// short pause, so that a kill lands in the middle of a batch. In "hold"
// mode it reads 10 entries at a time, records the ids of its batch in
// "<stream>:held" and then works on it until it is killed, like a handler
// stuck on a slow dependency. In "ackwait" mode it records what it
// handles as in the default mode, but its acks wait for two minutes.
func TestConsumerProcess(t *testing.T) {
	url, name := os.Getenv(envChildRedis), os.Getenv(envChildStream)
	if url == "" {
		t.Skip("only runs as the child of the crash tests")
	}
	rdb := testenv.RedisAt(t, url)
	cfg := stream.Config{Stream: name, Group: "g", Count: 50, Consumer: "child"}
	h := func(ctx context.Context, msgs []stream.Message) error {
		for _, m := range msgs {
			if err := rdb.SAdd(ctx, name+":handled", m.ID).Err(); err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	}
	if os.Getenv(envChildMode) == "hold" {
		cfg.Count = 10
		h = func(ctx context.Context, msgs []stream.Message) error {
			for _, m := range msgs {
				if err := rdb.SAdd(ctx, name+":held", m.ID).Err(); err != nil {
					return err
				}
			}
			<-ctx.Done()
			return ctx.Err()
		}
	}
	if os.Getenv(envChildMode) == "ackwait" {
		cfg.MinIdle, cfg.AckDelay = 10*time.Minute, 2*time.Minute
	}
	c, err := stream.NewBatchConsumer(rdb, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Run(context.Background())
}

// startChild starts TestConsumerProcess in mode on stream and kills it at
// the end of the test, if the test has not.
// childSet returns how many ids the set of the child's, named name
// (":handled", ":held" after the stream's name), holds.
func (f *fixture) childSet(name string) int64 {
	return f.rdb.SCard(context.Background(), f.stream+":"+name).Val()
}

// publishToChild publishes n entries and starts a child process that
// consumes them in mode.
func (f *fixture) publishToChild(n int, mode string) ([]string, *exec.Cmd) {
	ids := f.publish(n)
	return ids, startChild(f.t, f.stream, mode)
}

func startChild(t *testing.T, name, mode string) *exec.Cmd {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestConsumerProcess$", "-test.count=1")
	child.Env = append(os.Environ(), envChildRedis+"="+testenv.RedisURL(t), envChildStream+"="+name, envChildMode+"="+mode)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	return child
}

// kill SIGKILLs child and waits for it to be gone.
func kill(t *testing.T, child *exec.Cmd) {
	t.Helper()
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
}

// firstReclaim is Metrics that remembers when its consumer first took
// entries over from another consumer.
type firstReclaim struct {
	mu sync.Mutex
	at time.Time
}

func (r *firstReclaim) Reclaimed(string, string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at.IsZero() {
		r.at = time.Now()
	}
}

func (r *firstReclaim) time() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.at
}

func (*firstReclaim) Processed(string, string, int, time.Duration) {}
func (*firstReclaim) Failed(string, string, int)                   {}
func (*firstReclaim) Retried(string, string, int)                  {}
func (*firstReclaim) DeadLettered(string, string, int)             {}

// TestDeadConsumerProcessIsTakenOverWithinSevenSeconds SIGKILLs a consumer
// process that holds entries and measures, with the default timings, how
// long after the kill a live consumer of the group takes them over.
func TestDeadConsumerProcessIsTakenOverWithinSevenSeconds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids, child := f.publishToChild(20, "hold")
	// The child reads all 20: one batch in its handler, one waiting for it.
	testenv.WaitFor(t, 30*time.Second, "the child to hold its entries", func() bool {
		return f.childSet("held") == 10 && f.settledLag()
	})

	reclaims := &firstReclaim{}
	survivor := stream.Config{Stream: f.stream, Group: f.group, Logger: testenv.Logger(t), Metrics: reclaims}
	rec, _ := f.record(survivor)
	kill(t, child)
	killed := time.Now()

	testenv.WaitFor(t, 90*time.Second, "the survivor to handle the dead child's entries", func() bool {
		return rec.handled() == len(ids) && f.settled()
	})
	took := reclaims.time().Sub(killed)
	t.Logf("takeover after the kill: %v (default timings)", took.Round(time.Millisecond))
	if took > 7*time.Second {
		t.Errorf("the dead consumer's entries were taken over %v after the kill, want within 7s", took)
	}
	rec.wantCounts(t, onceEach(ids))
	f.wantNoDeadLetters()
}

func TestKilledConsumerProcess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ids := f.publish(1000)
	handledKey := f.stream + ":handled"

	child := startChild(t, f.stream, "")
	testenv.WaitFor(t, 30*time.Second, "child to handle 300 entries", func() bool {
		return f.childSet("handled") >= 300
	})
	kill(t, child)

	pending, err := f.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: f.stream, Group: f.group, Start: "-", End: "+", Count: 1000, Consumer: "child",
	}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 {
		t.Fatal("the killed child had no pending entries; the test did not kill it mid-batch")
	}
	handledByChild := f.childSet("handled")
	t.Logf("child killed after handling %d entries with %d pending", handledByChild, len(pending))

	// A second consumer takes over the dead one's pending entries and the rest.
	cfg := f.config()
	cfg.MinIdle = 300 * time.Millisecond
	cfg.Count = 50
	consume(t, f.rdb, cfg, func(ctx context.Context, m stream.Message) error {
		return f.rdb.SAdd(ctx, handledKey, m.ID).Err()
	})
	testenv.WaitFor(t, 30*time.Second, "every entry handled and acked", func() bool {
		return f.childSet("handled") == 1000 && f.settled()
	})
	got := map[string]int{}
	for _, id := range f.rdb.SMembers(ctx, handledKey).Val() {
		got[id]++
	}
	wantHandled(t, onceEach(ids), got)
	f.wantNoDeadLetters()
}

// TestRedisRestartedFromAOF kills Redis (SIGKILL) while a consumer is
// consuming, restarts it from its append-only file and checks that the
// consumer resumes by itself and every entry is handled exactly once.
func TestRedisRestartedFromAOF(t *testing.T) {
	t.Parallel()
	srv := testenv.OwnRedis(t, "always") // fsync every write, so SIGKILL loses nothing acknowledged
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1 // let the test see failures instead of hidden retries
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	f := &fixture{t: t, rdb: rdb, stream: "orders", group: "g", pub: stream.NewPublisher(rdb, nil)}
	ctx := context.Background()

	rec, _ := f.record(f.reclaimConfig(500 * time.Millisecond))

	before := f.publish(200)
	testenv.WaitFor(t, 10*time.Second, "entries before the crash", func() bool { return rec.handled() == 200 && f.settled() })

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("redis still answers after SIGKILL")
	}
	restartCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := srv.Restart(restartCtx); err != nil {
		t.Fatal(err)
	}
	if n := rdb.XLen(ctx, f.stream).Val(); n != 200 {
		t.Fatalf("after restart the stream has %d entries, want the 200 from the AOF", n)
	}
	after := f.publish(200)
	testenv.WaitFor(t, 20*time.Second, "entries after the restart", func() bool { return rec.handled() == 400 && f.settled() })
	all := append(before, after...)
	rec.wantCounts(t, onceEach(all))
}

// A consumer killed with acks waiting leaves its entries pending: another
// consumer takes them over and its handler sees them again (at-least-once;
// making that harmless is the handler's job).
func TestKilledWithAcksWaitingEntriesAreDeliveredAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids, child := f.publishToChild(30, "ackwait")
	testenv.WaitFor(t, 30*time.Second, "the child to handle every entry", func() bool {
		return f.childSet("handled") == int64(len(ids))
	})
	f.wantPending(len(ids), "the child handled them, their acks waiting")
	kill(t, child)

	rec, _ := f.record(f.reclaimConfig(300 * time.Millisecond))
	f.wantEachHandledOnce(rec, ids, 30*time.Second, "the killed child's entries handled again")
}
