package stream_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// The benchmarks compare the package with the least a program can do
// against Redis for the same work; `make bench-stream` prints the ratios.

// orderFields is a payload the size of an OrderPlaced event.
var orderFields = map[string]string{
	"orderId": "0193a1e2-7c4f-7d2a-9b1e-2f6c8d9e0a1b", "orderAmount": "129.97", "userId": "u-42",
	"products": `[{"productId":"p-1","qty":2,"productPrice":3999}]`, "ip": "127.0.0.1", "userAgent": "bench",
}

func BenchmarkPublish(b *testing.B) {
	rdb := testenv.Redis(b)
	pub := stream.NewPublisher(rdb, nil)
	name := testenv.Name(b, "bench")
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := pub.Publish(ctx, name, stream.Event{Type: "OrderPlaced", Fields: orderFields}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishRaw(b *testing.B) {
	rdb := testenv.Redis(b)
	name := testenv.Name(b, "bench")
	ctx := context.Background()
	// The same fields as the envelope, prepared once.
	vals := []any{"eventId", stream.NewID(), "eventType", "OrderPlaced", "eventVersion", "1",
		"eventTime", time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range orderFields {
		vals = append(vals, k, v)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: name, Values: vals}).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// fill appends n order events to a new stream and returns its name.
func fill(b *testing.B, rdb redis.UniversalClient, n int) string {
	b.Helper()
	name := testenv.Name(b, "bench")
	pub := stream.NewPublisher(rdb, nil)
	ctx := context.Background()
	for start := 0; start < n; start += 1000 {
		pipe := rdb.Pipeline()
		for i := start; i < min(start+1000, n); i++ {
			e := stream.Event{Type: "OrderPlaced", Fields: orderFields}
			if _, err := pub.Append(ctx, pipe, name, &e); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return name
}

type countMetrics struct{ processed atomic.Int64 }

func (m *countMetrics) Processed(_, _ string, n int, _ time.Duration) { m.processed.Add(int64(n)) }
func (m *countMetrics) Failed(string, string, int)                    {}
func (m *countMetrics) Retried(string, string, int)                   {}
func (m *countMetrics) Reclaimed(string, string, int)                 {}
func (m *countMetrics) DeadLettered(string, string, int)              {}

// measureCPU starts measuring the CPU time that this process and the Redis
// server of rdb spend; the function it returns reports it per entry
// ("cpu-µs/entry", of which "redis-µs/entry" the server's). On a machine that other work keeps busy, the time a
// consumer takes depends on its share of the CPUs; what it costs does
// not.
func measureCPU(b *testing.B, rdb redis.UniversalClient) (report func()) {
	b.Helper()
	self, server := testenv.SelfCPU(), redisCPU(b, rdb)
	return func() {
		server = redisCPU(b, rdb) - server
		self = testenv.SelfCPU() - self
		b.ReportMetric(float64((self+server).Microseconds())/float64(b.N), "cpu-µs/entry")
		b.ReportMetric(float64(server.Microseconds())/float64(b.N), "redis-µs/entry")
	}
}

// redisCPU is the CPU time the Redis server has spent so far (INFO cpu).
func redisCPU(b *testing.B, rdb redis.UniversalClient) time.Duration {
	b.Helper()
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for line := range strings.Lines(info) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %s: %v", line, err)
			}
			total += time.Duration(secs * float64(time.Second))
		}
	}
	return total
}

// BenchmarkConsume measures read, decode, handle (a no-op) and ack per
// entry with one consumer with the default configuration.
func BenchmarkConsume(b *testing.B) {
	rdb := testenv.Redis(b)
	name := fill(b, rdb, b.N)
	metrics := &countMetrics{}
	c, err := stream.NewConsumer(rdb, stream.Config{
		Stream: name, Group: "g", Metrics: metrics, Logger: testenv.Logger(b),
	}, func(context.Context, stream.Message) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cost := measureCPU(b, rdb)
	stop := run(b, c)
	for metrics.processed.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cost()
	stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkConsumeRaw is the least a consumer can do: one round trip per
// batch that acknowledges the previous batch and reads the next.
func BenchmarkConsumeRaw(b *testing.B) {
	rdb := testenv.Redis(b)
	name := fill(b, rdb, b.N)
	ctx := context.Background()
	if err := rdb.XGroupCreate(ctx, name, "g", "0").Err(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cost := measureCPU(b, rdb)
	var prev []string
	for done := 0; done < b.N; {
		pipe := rdb.Pipeline()
		if len(prev) > 0 {
			pipe.XAck(ctx, name, "g", prev...)
		}
		read := pipe.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: "g", Consumer: "raw", Streams: []string{name, ">"}, Count: 100, Block: -1,
		})
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			b.Fatal(err)
		}
		prev = prev[:0]
		for _, s := range read.Val() {
			for _, m := range s.Messages {
				prev = append(prev, m.ID)
			}
		}
		done += len(prev)
	}
	if err := rdb.XAck(ctx, name, "g", prev...).Err(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cost()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkLatency publishes b.N events at 2,000 a second, on a schedule
// that catches up when it falls behind, to a consumer with the default
// configuration, and reports the median and 99th percentile of the time
// from publishing an event to its handler.
func BenchmarkLatency(b *testing.B) {
	const rate = 2000
	rdb := testenv.Redis(b)
	name := testenv.Name(b, "bench")
	pub := stream.NewPublisher(rdb, nil)
	ctx := context.Background()
	var (
		mu   sync.Mutex
		lats = make([]time.Duration, 0, b.N)
	)
	c, err := stream.NewConsumer(rdb, stream.Config{Stream: name, Group: "g", Logger: testenv.Logger(b)},
		func(_ context.Context, m stream.Message) error {
			lat := time.Since(m.Time)
			mu.Lock()
			lats = append(lats, lat)
			mu.Unlock()
			return nil
		})
	if err != nil {
		b.Fatal(err)
	}
	// The group must exist before the first event, which it would
	// otherwise skip ("$"), or see as a backlog ("0").
	stop := run(b, c)
	defer stop()
	for deadline := time.Now().Add(10 * time.Second); ; {
		groups, err := rdb.XInfoGroups(ctx, name).Result()
		if err == nil && len(groups) == 1 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("consumer group of %s not created: %v", name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / rate)); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := pub.Publish(ctx, name, stream.Event{Type: "OrderPlaced", Fields: orderFields}); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		mu.Lock()
		n := len(lats)
		mu.Unlock()
		if n >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("handled %d of %d events", n, b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	slices.Sort(lats)
	at := func(q float64) float64 { return float64(lats[int(q*float64(len(lats)-1))]) / 1e6 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkConsumePartitioned measures how fast replicas of a consumer
// work through a stream spread over partitions: for 1, 2 and 4
// partitions and 1, 2 and 4 replicas (each with a Redis client of its
// own, as separate processes have; each reads every partition). The
// "noop" handler does nothing, so the stream layer, Redis and the CPU are
// the bottleneck; the "db" handler waits 2ms per batch and 20µs per entry,
// a stand-in for a service's database transaction (a commit round trip,
// and a row per event), so the handlers are. scripts/bench-stream.sh
// runs it, in alternation, with PARTITIONS=1.
func BenchmarkConsumePartitioned(b *testing.B) {
	for _, work := range []struct {
		name            string
		batch, perEntry time.Duration
	}{{"noop", 0, 0}, {"db", 2 * time.Millisecond, 20 * time.Microsecond}} {
		for _, partitions := range []int{1, 2, 4} {
			for _, replicas := range []int{1, 2, 4} {
				b.Run(fmt.Sprintf("%s/partitions=%d/replicas=%d", work.name, partitions, replicas), func(b *testing.B) {
					consumePartitioned(b, partitions, replicas, work.batch, work.perEntry)
				})
			}
		}
	}
}

func consumePartitioned(b *testing.B, partitions, replicas int, batchWork, entryWork time.Duration) {
	url := testenv.RedisURL(b)
	rdb := testenv.RedisAt(b, url)
	name := testenv.Name(b, "bench")
	pub := stream.NewPublisher(rdb, nil).Partitioned(partitions, func(e stream.Event) string { return e.Fields["orderId"] })
	ctx := context.Background()
	for start := 0; start < b.N; start += 1000 {
		pipe := rdb.Pipeline()
		for range min(1000, b.N-start) {
			f := maps.Clone(orderFields)
			f["orderId"] = stream.NewID()
			e := stream.Event{Type: "OrderPlaced", Fields: f}
			if _, err := pub.Append(ctx, pipe, name, &e); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	metrics := &countMetrics{}
	handle := func(_ context.Context, msgs []stream.Message) error {
		if d := batchWork + time.Duration(len(msgs))*entryWork; d > 0 {
			time.Sleep(d) // the work of the batch, not a synchronisation
		}
		return nil
	}
	b.ResetTimer()
	for range replicas {
		c, err := stream.NewBatchConsumer(testenv.RedisAt(b, url), stream.Config{
			Stream: name, Group: "g", Partitions: partitions, Count: 100, Metrics: metrics, Logger: testenv.Logger(b),
		}, handle)
		if err != nil {
			b.Fatal(err)
		}
		defer run(b, c)()
	}
	for metrics.processed.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
