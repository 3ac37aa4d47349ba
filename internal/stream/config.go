package stream

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Config configures a Consumer. Stream and Group are required; every other
// field has the default its comment gives when left zero.
type Config struct {
	// Stream is the stream to consume: with Partitions > 1, the logical
	// stream whose partitions (see Partitions) the consumer reads.
	Stream string
	// Partitions is how many partitions Stream has; the consumer reads
	// each with a reader of its own, as a consumer of the group on each,
	// so that replicas of a service share every partition's entries.
	// Every process must use the same. Default 1: Stream itself.
	Partitions int
	// Group is the consumer group; it is created at the stream's start ("0")
	// when missing, with the stream itself if need be (MKSTREAM).
	Group string
	// Consumer is this consumer's name in the group. Default: host name,
	// process id and a random suffix, so that replicas never collide.
	Consumer string

	// Count is the most entries one read returns. A consumer that is behind
	// reads up to that many at a time; see MinCount. Default 1000.
	Count int64
	// MinCount is how many entries a read asks for while the consumer
	// keeps up: a read that comes back full doubles the count of the next
	// one, up to Count; one that comes back short brings it back towards
	// MinCount. A read is also never larger than what the workers handle
	// in a quarter of HandlerTimeout (of a batch handler) and of
	// ShutdownTimeout, at the pace of the batches before it, but it asks
	// for at least MinCount. Taking over idle entries (reclaim) reads
	// MinCount at a time. Setting it to Count fixes the count of every
	// read. Default 100, or Count when that is less.
	MinCount int64
	// Block is how long one read waits for new entries. Default 2s.
	Block time.Duration
	// Concurrency is how many batches are handled at once; a read is split
	// into up to that many batches. Default 1.
	Concurrency int

	// MinIdle is how long an entry must have been pending without its
	// consumer touching it before a live consumer takes it over. A
	// consumer holds the entries it works on like a lease: every MinIdle/4
	// it claims them to itself again (XCLAIM … JUSTID), which restarts
	// their idle time, for as long as they are in its handler or wait for
	// a retry. So only the entries of a consumer that died (or stalled for
	// MinIdle) go idle; how long a handler takes does not matter. A dead
	// consumer's entries are taken over between MinIdle·3/4 and MinIdle +
	// ClaimInterval after its death. Default 5s.
	MinIdle time.Duration
	// ClaimInterval is how often pending entries are checked for takeover.
	// Default MinIdle/5.
	ClaimInterval time.Duration
	// RemoveIdleAfter is how long a consumer of the group with nothing
	// pending must have been idle (no read, no claim) before the other
	// consumers remove it from the group (XGROUP DELCONSUMER), so that
	// the group lists only live consumers. A live consumer reads at least
	// every Block, so it must be longer than Block and MinIdle; removing
	// one by mistake would be harmless anyway (its next read registers it
	// again, and one with entries pending is never removed). Default 10
	// times the longer of MinIdle and Block.
	RemoveIdleAfter time.Duration
	// HandlerTimeout bounds the handling of one batch (of one message for a
	// Handler): the handler's context ends then. A batch that runs out of
	// time is split in two halves, which are retried; one that fails
	// otherwise is handed to the handler one message at a time, each with
	// HandlerTimeout of its own. It does not depend on MinIdle, since a
	// consumer keeps the entries it works on. Default 10s.
	HandlerTimeout time.Duration

	// Linger is how long a consumer that keeps up waits after a read
	// before the next one, so that the entries that arrive meanwhile come
	// in one read (one batch, one transaction, one ack) rather than one
	// read each: the next read starts no sooner than Linger after a read
	// that returned entries, but fewer than it asked for. A read that came
	// back full (the consumer is behind) is followed at once, and one that
	// came back empty too, so an entry that arrives after a quiet spell is
	// read as soon as it is there; an entry waits at most Linger more than
	// without it. It must be shorter than Block. Default 0: every read
	// follows the one before at once.
	Linger time.Duration

	// AckDelay is how long the acknowledgement of an entry handled may
	// wait, to go out with those of the batches handled after it, in one
	// XACK: the acks waiting are sent once the oldest has waited AckDelay,
	// with the next read, or by themselves a quarter of an AckDelay later
	// if the reader is blocked in a read (the stream is quiet); at once
	// when there are Count of them; and before Run returns. An entry handled stays pending meanwhile,
	// held by its consumer: after a crash it is delivered again, which
	// handlers must take anyway. It must be at most a fifth of MinIdle.
	// Default 50ms, or MinIdle/5 when that is less.
	AckDelay time.Duration

	// MaxDeliveries is how many deliveries an entry gets before it is
	// dead-lettered. Default 5.
	MaxDeliveries int64
	// RetryBackoff is the delay before the first retry of a failed entry;
	// it doubles with each further delivery. Default 100ms.
	RetryBackoff time.Duration
	// MaxRetryBackoff caps the retry delay, also of the retries during an
	// outage (Unavailable). Default 5s.
	MaxRetryBackoff time.Duration
	// MaxDeferral caps the delay of a deferral (Defer), and how long an
	// entry may be deferred in all; after that its deferrals count as
	// failed deliveries, so that an entry cannot be deferred for ever.
	// Default 5m.
	MaxDeferral time.Duration
	// DeadLetterStream receives entries that will not be retried. Default
	// DeadLetterStream(Stream), "{Stream}:dlq"; with Partitions > 1 it
	// must be empty, and each partition has its own default.
	DeadLetterStream string

	// ShutdownTimeout bounds how long Run waits, once its context is
	// cancelled, for handlers in flight. Default 10s.
	ShutdownTimeout time.Duration

	// Logger receives lifecycle and error logs. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives counts and latencies. Default: none.
	Metrics Metrics
	// TracerProvider records a span for the handling of each entry, in
	// the trace its envelope's traceparent names (see traceHandling).
	// Default: none (nil, or a no-op provider: tracing.Enabled).
	TracerProvider trace.TracerProvider
}

func (c *Config) setDefaults() {
	if c.Consumer == "" {
		c.Consumer = consumerName()
	}
	c.Count = cmp.Or(c.Count, 1000)
	c.MinCount = cmp.Or(c.MinCount, min(100, c.Count))
	c.Block = cmp.Or(c.Block, 2*time.Second)
	c.Concurrency = cmp.Or(c.Concurrency, 1)
	c.MinIdle = cmp.Or(c.MinIdle, 5*time.Second)
	c.ClaimInterval = cmp.Or(c.ClaimInterval, c.MinIdle/5)
	c.RemoveIdleAfter = cmp.Or(c.RemoveIdleAfter, 10*max(c.MinIdle, c.Block))
	c.HandlerTimeout = cmp.Or(c.HandlerTimeout, 10*time.Second)
	c.AckDelay = cmp.Or(c.AckDelay, min(50*time.Millisecond, c.MinIdle/5))
	c.MaxDeliveries = cmp.Or(c.MaxDeliveries, 5)
	c.RetryBackoff = cmp.Or(c.RetryBackoff, 100*time.Millisecond)
	c.MaxRetryBackoff = cmp.Or(c.MaxRetryBackoff, 5*time.Second)
	c.MaxDeferral = cmp.Or(c.MaxDeferral, 5*time.Minute)
	c.Partitions = cmp.Or(c.Partitions, 1)
	if c.Partitions <= 1 {
		c.DeadLetterStream = cmp.Or(c.DeadLetterStream, DeadLetterStream(c.Stream))
	}
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, 10*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
}

// Validate reports the first problem with c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Stream == "" {
		errs = append(errs, errors.New("stream is required"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group is required"))
	}
	if c.Count < 1 || c.MinCount < 1 || c.Concurrency < 1 || c.MaxDeliveries < 1 {
		errs = append(errs, errors.New("count, min count, concurrency and max deliveries must be positive"))
	}
	if c.MinCount > c.Count {
		errs = append(errs, fmt.Errorf("min count %d must not exceed count %d", c.MinCount, c.Count))
	}
	if c.Block <= 0 || c.MinIdle <= 0 || c.ClaimInterval <= 0 || c.HandlerTimeout <= 0 || c.RetryBackoff <= 0 ||
		c.MaxRetryBackoff <= 0 || c.MaxDeferral <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if c.RemoveIdleAfter <= max(c.MinIdle, c.Block) {
		errs = append(errs, fmt.Errorf("remove idle after %v must be longer than min idle %v and block %v",
			c.RemoveIdleAfter, c.MinIdle, c.Block))
	}
	if c.Linger < 0 || c.Linger >= c.Block {
		errs = append(errs, fmt.Errorf("linger %v must not be negative, and must be shorter than block %v", c.Linger, c.Block))
	}
	if c.MinIdle > 0 && (c.AckDelay < 0 || c.AckDelay > c.MinIdle/5) {
		errs = append(errs, fmt.Errorf("ack delay %v must not be negative, and must be at most a fifth of min idle %v", c.AckDelay, c.MinIdle))
	}
	if p := validPartitions(c.Stream, c.Partitions); p != "" {
		errs = append(errs, errors.New(p))
	}
	if c.Partitions <= 1 && c.DeadLetterStream == c.Stream {
		errs = append(errs, errors.New("dead-letter stream must differ from the stream"))
	}
	if c.Partitions > 1 && c.DeadLetterStream != "" {
		errs = append(errs, errors.New("dead-letter stream must be empty with partitions: each partition has its own"))
	}
	return errors.Join(errs...)
}

// DefaultFor fills in the Stream and Group of c, where empty, with stream
// and group: what a service's setDefaults does to the template of its
// consumers. An empty stream leaves Stream empty, for a service that sets
// it per consumer (WithStream).
func (c *Config) DefaultFor(stream, group string) {
	c.Stream = cmp.Or(c.Stream, stream)
	c.Group = cmp.Or(c.Group, group)
}

// WithStream returns c consuming name: a service's consumer template made
// the config of its consumer of name.
func (c Config) WithStream(name string) Config {
	c.Stream = name
	return c
}

func consumerName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "host"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
