package stream

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/platform/tracing"
)

// Handler handles one message. Returning nil acknowledges it; an error
// means retry, unless it is Permanent.
type Handler func(ctx context.Context, m Message) error

// BatchHandler handles a batch of messages, typically in one database
// transaction. It must be all or nothing: nil acknowledges the whole batch;
// on an error the consumer hands the messages back one at a time, so that a
// single bad message cannot hold up the others. A batch that fails with an
// Unavailable or Defer error is retried whole, later; one that runs out of
// time (HandlerTimeout) is retried in two halves.
type BatchHandler func(ctx context.Context, msgs []Message) error

// Consumer reads one stream in one consumer group and hands the entries to
// its handler; see the package documentation for its guarantees. Create it
// with NewConsumer or NewBatchConsumer and call Run. A consumer of a
// partitioned stream (Config.Partitions) is one such consumer per
// partition, each with its own reader, reclaim, retries, lease and
// workers, under the same consumer name.
type Consumer struct {
	// parts are the consumers of the partitions, when there are several;
	// then Run runs them, and no other field but cfg is used.
	parts []*Consumer

	rdb   redis.UniversalClient
	cfg   Config
	one   Handler
	batch BatchHandler
	log   *slog.Logger
	// tracer records the handling's spans; nil when tracing is off.
	tracer    trace.Tracer
	spanAttrs []attribute.KeyValue

	reader    atomic.Pointer[reader] // the blocking reader's connection; nil between connections
	outages   atomic.Int64           // consecutive Unavailable failures, for their backoff
	outageLog logLimiter             // of the warnings about outages
	retryMu   sync.Mutex
	retries   []retry
	retryWake chan struct{}
	acks      acks // acknowledgements waiting to be sent; see ack.go
	heldMu    sync.Mutex
	held      map[string]*holding // the entries this consumer holds, by id; see lease.go
	pace      pace                // how long handlers take, which bounds reads; see readsize.go
}

// NewConsumer returns a Consumer that calls h for each message.
func NewConsumer(rdb redis.UniversalClient, cfg Config, h Handler) (*Consumer, error) {
	return newConsumer(rdb, cfg, h, nil)
}

// NewBatchConsumer returns a Consumer that calls h with the messages of
// each read (split by Config.Concurrency).
func NewBatchConsumer(rdb redis.UniversalClient, cfg Config, h BatchHandler) (*Consumer, error) {
	return newConsumer(rdb, cfg, nil, h)
}

func newConsumer(rdb redis.UniversalClient, cfg Config, one Handler, batch BatchHandler) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("stream consumer config: %w", err)
	}
	cfg.setDefaults()
	if m, ok := cfg.Metrics.(GroupMetrics); ok {
		m.Consuming(cfg.Stream, cfg.Group)
	}
	if cfg.Partitions <= 1 {
		return consumerOf(rdb, cfg, one, batch), nil
	}
	c := &Consumer{cfg: cfg}
	for p, key := range Partitions(cfg.Stream, cfg.Partitions) {
		pc := cfg
		pc.Stream, pc.Partitions, pc.DeadLetterStream = key, 1, DeadLetterStream(key)
		pc.Metrics = partitionMetrics{m: cfg.Metrics, logical: cfg.Stream}
		pc.Logger = cfg.Logger.With("partition", p)
		c.parts = append(c.parts, consumerOf(rdb, pc, one, batch))
	}
	return c, nil
}

// consumerOf returns the consumer of one stream, a partition or an
// unpartitioned stream, of cfg with its defaults set.
func consumerOf(rdb redis.UniversalClient, cfg Config, one Handler, batch BatchHandler) *Consumer {
	var tracer trace.Tracer
	if tracing.Enabled(cfg.TracerProvider) {
		tracer = cfg.TracerProvider.Tracer(traceScope)
	}
	return &Consumer{
		tracer:    tracer,
		spanAttrs: consumerSpanAttrs(cfg),
		rdb:       rdb,
		cfg:       cfg,
		one:       one,
		batch:     batch,
		log:       cfg.Logger.With("stream", cfg.Stream, "group", cfg.Group, "consumer", cfg.Consumer),
		outageLog: logLimiter{every: outageLogEvery},
		retryWake: make(chan struct{}, 1),
		held:      make(map[string]*holding),
		acks:      acks{wake: make(chan struct{}, 1)},
	}
}

// Name returns the consumer's name in its group.
func (c *Consumer) Name() string { return c.cfg.Consumer }

// Run consumes until ctx is cancelled, then shuts down gracefully and
// returns nil. Redis being unreachable is not an error: Run keeps trying
// with backoff and logs it. A partitioned consumer runs the consumer of
// each partition, and returns once they have all stopped.
func (c *Consumer) Run(ctx context.Context) error {
	if c.parts != nil {
		var parts sync.WaitGroup
		for _, p := range c.parts {
			parts.Go(func() { _ = p.Run(ctx) })
		}
		parts.Wait()
		return nil
	}
	if err := c.createGroupRetrying(ctx); err != nil {
		return nil // ctx was cancelled before Redis answered
	}
	c.log.InfoContext(ctx, "consumer started")

	// Handlers get a context of their own so that in-flight work can finish
	// and be acknowledged after ctx is cancelled, within ShutdownTimeout.
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	work := make(chan batch)
	stop := make(chan struct{}) // closed when the shutdown time is up

	// The lease on the held entries lasts as long as handlers may work on
	// them: until Run returns.
	leaseStop := make(chan struct{})
	var lease sync.WaitGroup
	lease.Go(func() { c.leaseLoop(context.WithoutCancel(ctx), leaseStop) })
	defer lease.Wait()
	defer close(leaseStop)

	// Acks wait until Run returns, when those still waiting are sent.
	ackStop := make(chan struct{})
	var acker sync.WaitGroup
	acker.Go(func() { c.ackLoop(context.WithoutCancel(ctx), ackStop) })
	defer c.finalAcks(context.WithoutCancel(ctx))
	defer acker.Wait()
	defer close(ackStop)

	var feeders sync.WaitGroup
	readerDone := make(chan struct{})
	feeders.Go(func() { defer close(readerDone); c.readLoop(ctx, work, stop) })
	feeders.Go(func() { c.reclaimLoop(ctx, work, stop) })
	feeders.Go(func() { c.retryLoop(ctx, work, stop) })
	feedersDone := make(chan struct{})
	go func() { feeders.Wait(); close(feedersDone) }()

	var workers sync.WaitGroup
	for range c.cfg.Concurrency {
		workers.Go(func() {
			for {
				select {
				case b := <-work:
					// Decoding here rather than in the reader keeps the
					// reader, the consumer's bottleneck, to reading.
					msgs := b.msgs
					if msgs == nil {
						msgs = c.decode(hctx, b.entries, b.counts)
					}
					c.process(hctx, msgs, b.reclaimed)
				case <-feedersDone:
					return
				}
			}
		})
	}
	workersDone := make(chan struct{})
	go func() { workers.Wait(); close(workersDone) }()

	<-ctx.Done()
	timer := time.AfterFunc(c.cfg.ShutdownTimeout, func() { close(stop); cancelHandlers() })
	defer timer.Stop()
	go c.unblockReader(readerDone, stop)
	select {
	case <-workersDone:
		c.log.Info("consumer stopped")
	case <-time.After(c.cfg.ShutdownTimeout + time.Second):
		c.log.Warn("consumer stopped with work still in flight; it stays pending and will be reclaimed")
	}
	return nil
}

// unblockReader releases the reader from its blocking XREADGROUP with
// CLIENT UNBLOCK, which makes the read return as if it had timed out. It
// repeats until the reader is gone, since the reader may be between two
// reads when it is first called.
func (c *Consumer) unblockReader(readerDone, stop <-chan struct{}) {
	for {
		if r := c.reader.Load(); r != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = r.node.ClientUnblock(ctx, r.id).Err()
			cancel()
		}
		select {
		case <-readerDone:
			return
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// batch is entries on their way to a worker.
type batch struct {
	entries   []redis.XMessage
	counts    map[string]int64 // delivery counts; nil means first delivery
	reclaimed bool             // taken over from another consumer
	msgs      []Message        // already decoded (retries), instead of entries
}

// dispatch splits b into up to Concurrency batches and hands them to the
// workers. It reports false when the shutdown time ran out first.
func (c *Consumer) dispatch(work chan<- batch, stop <-chan struct{}, b batch) bool {
	if b.msgs != nil {
		size := (len(b.msgs) + c.cfg.Concurrency - 1) / c.cfg.Concurrency
		for chunk := range slices.Chunk(b.msgs, max(size, 1)) {
			select {
			case work <- batch{msgs: chunk}:
			case <-stop:
				return false
			}
		}
		return true
	}
	size := (len(b.entries) + c.cfg.Concurrency - 1) / c.cfg.Concurrency
	for chunk := range slices.Chunk(b.entries, max(size, 1)) {
		select {
		case work <- batch{entries: chunk, counts: b.counts, reclaimed: b.reclaimed}:
		case <-stop:
			return false
		}
	}
	return true
}
