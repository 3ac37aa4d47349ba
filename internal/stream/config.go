package stream

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Config configures a Consumer. Stream and Group are required; every other
// field has the default its comment gives when left zero.
type Config struct {
	// Stream is the stream to consume.
	Stream string
	// Group is the consumer group; it is created at the stream's start ("0")
	// when missing, with the stream itself if need be (MKSTREAM).
	Group string
	// Consumer is this consumer's name in the group. Default: host name,
	// process id and a random suffix, so that replicas never collide.
	Consumer string

	// Count is the most entries one read returns. Default 100.
	Count int64
	// Block is how long one read waits for new entries. Default 2s.
	Block time.Duration
	// Concurrency is how many batches are handled at once; a read is split
	// into up to that many batches. Default 1.
	Concurrency int

	// MinIdle is how long an entry must have been pending, unacknowledged,
	// before a live consumer takes it over from the one that read it (which
	// is then presumed dead). Default 30s.
	MinIdle time.Duration
	// ClaimInterval is how often pending entries are checked for takeover.
	// Default MinIdle/3.
	ClaimInterval time.Duration
	// HandlerTimeout bounds the handling of one batch: the handler's
	// context ends then. When a batch fails and its messages are handled
	// one at a time, that pass gets HandlerTimeout again; twice it must be
	// shorter than MinIdle, or live work would be taken over. Default
	// MinIdle/3.
	HandlerTimeout time.Duration

	// MaxDeliveries is how many deliveries an entry gets before it is
	// dead-lettered. Default 5.
	MaxDeliveries int64
	// RetryBackoff is the delay before the first retry of a failed entry;
	// it doubles with each further delivery. Default 100ms.
	RetryBackoff time.Duration
	// MaxRetryBackoff caps the retry delay. It must be shorter than
	// MinIdle. Default MinIdle/3, at most 10s.
	MaxRetryBackoff time.Duration
	// DeadLetterStream receives entries that will not be retried. Default
	// Stream + ":dlq".
	DeadLetterStream string

	// ShutdownTimeout bounds how long Run waits, once its context is
	// cancelled, for handlers in flight. Default 10s.
	ShutdownTimeout time.Duration

	// Logger receives lifecycle and error logs. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives counts and latencies. Default: none.
	Metrics Metrics
}

func (c *Config) setDefaults() {
	if c.Consumer == "" {
		c.Consumer = consumerName()
	}
	if c.Count == 0 {
		c.Count = 100
	}
	if c.Block == 0 {
		c.Block = 2 * time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.MinIdle == 0 {
		c.MinIdle = 30 * time.Second
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = c.MinIdle / 3
	}
	if c.HandlerTimeout == 0 {
		c.HandlerTimeout = c.MinIdle / 3
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = 5
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 100 * time.Millisecond
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = min(c.MinIdle/3, 10*time.Second)
	}
	if c.DeadLetterStream == "" {
		c.DeadLetterStream = DeadLetterStream(c.Stream)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
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
	if c.Count < 1 || c.Concurrency < 1 || c.MaxDeliveries < 1 {
		errs = append(errs, errors.New("count, concurrency and max deliveries must be positive"))
	}
	if c.Block <= 0 || c.MinIdle <= 0 || c.ClaimInterval <= 0 || c.RetryBackoff <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if 2*c.HandlerTimeout >= c.MinIdle {
		errs = append(errs, fmt.Errorf("twice the handler timeout %v must be shorter than min idle %v", c.HandlerTimeout, c.MinIdle))
	}
	if c.MaxRetryBackoff >= c.MinIdle {
		errs = append(errs, fmt.Errorf("max retry backoff %v must be shorter than min idle %v", c.MaxRetryBackoff, c.MinIdle))
	}
	if c.DeadLetterStream == c.Stream {
		errs = append(errs, errors.New("dead-letter stream must differ from the stream"))
	}
	return errors.Join(errs...)
}

// DefaultFor fills in the Stream and Group of c, where empty, with stream
// and group: what a service's setDefaults does to the template of its
// consumers. An empty stream leaves Stream empty, for a service that sets
// it per consumer (WithStream).
func (c *Config) DefaultFor(stream, group string) {
	if c.Stream == "" {
		c.Stream = stream
	}
	if c.Group == "" {
		c.Group = group
	}
}

// WithStream returns c consuming name: a service's consumer template made
// the config of its consumer of name.
func (c Config) WithStream(name string) Config {
	c.Stream = name
	return c
}

// DeadLetterStream returns the default dead-letter stream of stream.
func DeadLetterStream(stream string) string { return stream + ":dlq" }

func consumerName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "host"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
