package outbox

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/redisclient"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// ServiceConfig is the part of a service's Config that every service
// consuming streams and publishing through its outbox has: its consumers,
// its relay and the retention of the stream it publishes to. A service
// embeds it, so that its fields read as the service's own (cfg.Consumer,
// cfg.Outbox, cfg.StreamMaxAge), calls DefaultFor from its setDefaults and
// ValidateFor from its Validate, and builds its outbox with NewOutbox.
type ServiceConfig struct {
	// Consumer configures the service's consumers; the service's Config
	// says which streams they read. Its Partitions is also how many
	// partitions the stream the service publishes to has: the system has
	// one number of partitions for every stream it consumes. Group defaults to the service's Group;
	// Logger is always the service's, so that the consumers' lines carry
	// the service. The other fields take stream.Config's defaults.
	Consumer stream.Config
	// Outbox configures the relay of the service's events. Zero fields
	// take Config's defaults.
	Outbox Config
	// StreamMaxAge trims the stream the service publishes to as the
	// service appends to it, keeping about the entries of the last
	// StreamMaxAge (XADD MINID ~): a consumer group that falls further
	// behind loses entries, and the order history can be rebuilt only from
	// what is kept. Zero keeps everything. It must not be negative.
	StreamMaxAge time.Duration
}

// DefaultFor fills in the zero fields of c that have a service's defaults:
// the Consumer's Stream (when the service consumes one stream; "" for a
// service whose Consumer is the template of several) and Group.
func (c *ServiceConfig) DefaultFor(stream, group string) {
	c.Consumer.DefaultFor(stream, group)
}

// ValidateFor reports the problems with c, after DefaultFor, each naming
// the field at fault, for a service that consumes streams. With one
// stream, Consumer is that stream's consumer and its Stream must be it.
// With several, Consumer is the template of one consumer per stream, each
// dead-lettering to its stream's default dead-letter stream, so its Stream
// and DeadLetterStream must be empty.
func (c ServiceConfig) ValidateFor(streams ...string) error {
	var errs []error
	switch {
	case len(streams) == 1 && c.Consumer.Stream != streams[0]:
		errs = append(errs, fmt.Errorf("Consumer.Stream %q is not %q, the stream the service consumes; leave it empty", c.Consumer.Stream, streams[0]))
	case len(streams) > 1 && (c.Consumer.Stream != "" || c.Consumer.DeadLetterStream != ""):
		errs = append(errs, errors.New("Consumer.Stream and Consumer.DeadLetterStream must be empty; they follow from the streams"))
	default:
		for _, name := range streams {
			if err := c.Consumer.WithStream(name).Validate(); err != nil {
				errs = append(errs, fmt.Errorf("Consumer of %s: %w", name, err))
			}
		}
	}
	if c.StreamMaxAge < 0 {
		errs = append(errs, fmt.Errorf("StreamMaxAge %v is negative", c.StreamMaxAge))
	}
	return errors.Join(errs...)
}

// NewOutbox returns the Outbox of the service that owns schema, with c's
// Outbox config. It publishes to stream to, the stream the service
// announces its events on, trimming it to StreamMaxAge, and spread over
// Consumer.Partitions partitions by the key that key picks of each event.
func (c ServiceConfig) NewOutbox(pool *pgxpool.Pool, rdb redis.UniversalClient, schema, to string, key stream.KeyFunc, log *slog.Logger) *Outbox {
	pub := stream.NewPublisher(rdb, map[string]stream.Retention{to: {MaxAge: c.StreamMaxAge}}).
		Partitioned(c.Consumer.Partitions, key)
	return New(pool, rdb, pub, schema, c.Outbox, log)
}

// ReadyChecks returns the readiness checks of the service that publishes
// through o (web.Health): its PostgreSQL and its Redis answer. Without
// either it can neither apply what it consumes nor relay what it
// announces.
func (o *Outbox) ReadyChecks() map[string]web.Check {
	return map[string]web.Check{"postgres": o.pool.Ping, "redis": redisclient.Ping(o.rdb)}
}
