package stream

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Retention bounds a stream's length when events are appended to it. The
// trimming is approximate ("~"), which lets Redis drop whole macro nodes
// cheaply. A zero Retention keeps everything.
type Retention struct {
	// MaxLen keeps about the newest MaxLen entries (XADD MAXLEN ~).
	MaxLen int64
	// MaxAge keeps about the entries younger than MaxAge (XADD MINID ~),
	// using the millisecond time in the entry ids. Ignored when MaxLen is set.
	MaxAge time.Duration
}

// Publisher appends events to streams. It is safe for concurrent use.
type Publisher struct {
	rdb       redis.Cmdable
	retention map[string]Retention
	parts     partitioning
}

// NewPublisher returns a Publisher that writes through rdb and trims each
// stream named in retention as it says.
func NewPublisher(rdb redis.Cmdable, retention map[string]Retention) *Publisher {
	return &Publisher{rdb: rdb, retention: retention}
}

// Partitioned returns a copy of p that spreads every stream it appends to
// over n partitions (see Partitions): an event goes to the partition of
// key's value for it (PartitionOf), or of its id when key is nil or
// returns "". The stream names given to Publish and Append, and those of
// the retention, are then logical streams. n <= 1 keeps one stream under
// the logical name.
func (p *Publisher) Partitioned(n int, key KeyFunc) *Publisher {
	q := *p
	q.parts = partitioning{n: n, key: key}
	return &q
}

// Publish appends e to stream (to its partition of stream, when p is
// Partitioned) and returns the new entry's id. e.ID, Version
// and Time are filled in when empty. When ctx holds a span and e has no
// TraceParent, the append gets a span of its own ("publish STREAM") in
// that trace, which e's TraceParent names.
func (p *Publisher) Publish(ctx context.Context, stream string, e Event) (id string, err error) {
	end := tracePublish(ctx, stream, &e)
	defer func() { end(err) }()
	args, err := p.args(stream, &e)
	if err != nil {
		return "", err
	}
	id, err = p.rdb.XAdd(ctx, args).Result()
	if err != nil {
		return "", fmt.Errorf("publish %s to %s: %w", e.Type, stream, err)
	}
	return id, nil
}

// Append queues the XADD of e to stream on pipe, a pipeline or a MULTI
// transaction, so that a batch of events costs one round trip. The entry id
// is in the returned command after pipe has been executed. *e gets its ID,
// Version and Time filled in.
func (p *Publisher) Append(ctx context.Context, pipe redis.Pipeliner, stream string, e *Event) (*redis.StringCmd, error) {
	args, err := p.args(stream, e)
	if err != nil {
		return nil, err
	}
	return pipe.XAdd(ctx, args), nil
}

func (p *Publisher) args(stream string, e *Event) (*redis.XAddArgs, error) {
	vals, err := e.values()
	if err != nil {
		return nil, err
	}
	args := &redis.XAddArgs{Stream: p.parts.stream(stream, e), Values: vals}
	switch r := p.retention[stream]; {
	case r.MaxLen > 0:
		args.MaxLen, args.Approx = r.MaxLen, true
	case r.MaxAge > 0:
		args.MinID, args.Approx = strconv.FormatInt(time.Now().Add(-r.MaxAge).UnixMilli(), 10), true
	}
	return args, nil
}
