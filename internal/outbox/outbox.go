// Package outbox makes "change the database and publish an event" atomic,
// and consuming an event exactly once in effect.
//
// A service writes its events into its own schema's outbox table in the
// same PostgreSQL transaction as the change they announce (Add). A relay
// (Run) moves committed rows to their Redis streams in pipelined batches and
// deletes them, so an event is published if and only if its transaction
// committed. Rows are taken with FOR UPDATE SKIP LOCKED, so any number of
// relays (one per replica) share the work without publishing a row twice
// at the same time. A relay that crashes between XADD and its commit
// publishes those rows again after restart, with the same event ids:
// delivery is at least once.
//
// A consumer that writes PostgreSQL therefore applies a batch of events
// with Apply, the one exactly-once step: in one transaction it records the
// event ids in the schema's processed_events table, applies the effect of
// the ids not recorded before, adds the messages announcing it to the
// outbox and commits. A redelivered event finds its id recorded and has
// no effect; an effect that fails records nothing and is applied when the
// event comes again.
//
// With Config.TracerProvider, an event keeps the trace context of what
// wrote it (its row's trace_parent: the request's or the handling's span)
// and the relay publishes it in a span of its own ("publish STREAM"),
// that span's child, whose traceparent the stream entry carries.
package outbox

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/stream"
)

// Migrate creates the outbox and processed_events tables in schema, which
// must exist. It is idempotent.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	s := pgx.Identifier{schema}.Sanitize()
	_, err := pool.Exec(ctx, fmt.Sprintf(`
		CREATE TABLE IF NOT EXISTS %[1]s.outbox (
			id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			stream        text        NOT NULL,
			event_id      text        NOT NULL,
			event_type    text        NOT NULL,
			event_version int         NOT NULL,
			occurred_at   timestamptz NOT NULL,
			trace_parent  text        NOT NULL DEFAULT '',
			fields        jsonb       NOT NULL,
			created_at    timestamptz NOT NULL DEFAULT now()
		);
		CREATE TABLE IF NOT EXISTS %[1]s.processed_events (
			event_id     text PRIMARY KEY,
			processed_at timestamptz NOT NULL DEFAULT now()
		);`, s))
	if err != nil {
		return fmt.Errorf("migrate outbox in %s: %w", schema, err)
	}
	return nil
}

// MigrateService is the Migrate of a service that has an outbox: it
// applies the service's own migrations in fsys to schema (postgres.Migrate)
// and then creates the outbox and processed_events tables there (Migrate).
func MigrateService(ctx context.Context, pool *pgxpool.Pool, schema string, fsys fs.FS) error {
	if err := postgres.Migrate(ctx, pool, schema, fsys); err != nil {
		return err
	}
	return Migrate(ctx, pool, schema)
}

// Message is an event bound for a stream.
type Message struct {
	Stream string
	Event  stream.Event
}

// On returns a Message bound for stream for each of evs.
func On(stream string, evs []stream.Event) []*Message {
	msgs := make([]*Message, len(evs))
	for i, e := range evs {
		msgs[i] = &Message{Stream: stream, Event: e}
	}
	return msgs
}

// Config configures an Outbox; zero fields take the defaults given.
type Config struct {
	// Batch is the most rows one relay transaction publishes. Default 500.
	Batch int
	// Poll is how often the relay looks for rows without being kicked,
	// which picks up rows of crashed replicas. Default 250ms.
	Poll time.Duration
	// Linger is how long the relay waits after publishing a batch smaller
	// than Batch before it takes the next, so that the rows committed
	// meanwhile go out in one transaction and one pipeline rather than one
	// each: a row waits at most Linger more than without it. After a quiet
	// spell (nothing relayed since the last batch) the first kick is
	// answered at once. Default 0: every kick is answered at once.
	Linger time.Duration
	// KeepProcessed is how long consumed event ids are remembered for
	// Apply; Run prunes older ones hourly. It must outlast the time an
	// event can still be redelivered (the streams' retention). Default
	// 7 days.
	KeepProcessed time.Duration
	// Metrics receives what the relay observes. Default: none.
	Metrics Metrics
	// TracerProvider records the spans of Add ("outbox insert") and of
	// the relay ("publish STREAM", one per event). Default: none (nil, or
	// a no-op provider: tracing.Enabled).
	TracerProvider trace.TracerProvider
	// Published, when set, is called by the relay in each batch's
	// transaction, after the batch reached Redis and before the
	// transaction commits, with the batch's events and sentAt, the time
	// just before the relay sent them: no consumer can have read one of
	// them before sentAt. A service records there when its events were
	// published (orders: when each OrderPlaced was). Its error fails the
	// batch as a failed commit does: nothing is deleted, and the events
	// are published again later, with their ids; so it must not fail on
	// what a batch holds (the same event twice, say), or the relay stalls.
	// Default: nothing.
	Published func(ctx context.Context, tx pgx.Tx, sentAt time.Time, evs []stream.Event) error
}

// Metrics receives what a relay observes. Implementations must be safe for
// concurrent use.
type Metrics interface {
	// Relayed observes one row published, its event appended and the row
	// deleted: delay is the time since the row was written (its
	// transaction began; on the database's clock, so that the relay's
	// clock cannot skew it).
	Relayed(delay time.Duration)
}

type nopMetrics struct{}

func (nopMetrics) Relayed(time.Duration) {}

// Outbox writes events into a schema's outbox table and relays them to
// Redis. It is safe for concurrent use.
type Outbox struct {
	pool  *pgxpool.Pool
	rdb   redis.UniversalClient
	pub   *stream.Publisher
	table string
	seen  string // the processed_events table
	cfg   Config
	log   *slog.Logger
	kick  chan struct{}
	add   string // InsertSQL(1)
	take  string // RelayOnce's DELETE
	// tracer records Add's and the relay's spans; nil when tracing is off.
	tracer trace.Tracer
}

// New returns the Outbox of schema, publishing through rdb with pub.
func New(pool *pgxpool.Pool, rdb redis.UniversalClient, pub *stream.Publisher, schema string, cfg Config, log *slog.Logger) *Outbox {
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.KeepProcessed <= 0 {
		cfg.KeepProcessed = 7 * 24 * time.Hour
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	o := &Outbox{
		pool:  pool,
		rdb:   rdb,
		pub:   pub,
		table: pgx.Identifier{schema, "outbox"}.Sanitize(),
		seen:  pgx.Identifier{schema, "processed_events"}.Sanitize(),
		cfg:   cfg,
		log:   log.With("outbox", schema),
		kick:  make(chan struct{}, 1),
	}
	if tracing.Enabled(cfg.TracerProvider) {
		o.tracer = cfg.TracerProvider.Tracer("streamcart/outbox")
	}
	o.add = o.InsertSQL(1)
	o.take = `DELETE FROM ` + o.table + ` WHERE id IN (
		SELECT id FROM ` + o.table + ` ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, stream, event_id, event_type, event_version, occurred_at, trace_parent, fields,
			extract(epoch FROM clock_timestamp() - created_at)::float8`
	return o
}

// Add writes msgs into the outbox as part of tx, in one statement. Each
// event's ID, Version and Time are filled in if empty, so the caller can
// read them back. With tracing on, the insert is a span ("outbox insert")
// in the trace of ctx (none when that trace is not kept:
// tracing.Unsampled), and an event without a TraceParent gets that
// span's, or that of ctx: its consumers continue the trace of what wrote
// it.
func (o *Outbox) Add(ctx context.Context, tx pgx.Tx, msgs ...*Message) (err error) {
	if len(msgs) == 0 {
		return nil
	}
	if o.tracer != nil && !tracing.Unsampled(trace.SpanContextFromContext(ctx)) {
		var span trace.Span
		ctx, span = o.tracer.Start(ctx, "outbox insert", trace.WithAttributes(
			attribute.String("db.collection.name", o.table),
			semconv.MessagingBatchMessageCountKey.Int(len(msgs)),
		))
		defer func() {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, "outbox insert failed")
			}
			span.End()
		}()
	}
	rows, err := Encode(ctx, msgs...)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, o.add, rows.Args()...); err != nil {
		return fmt.Errorf("outbox: insert: %w", err)
	}
	return nil
}

// Rows are messages encoded as the columns of the outbox table, for a
// caller that inserts them in a statement of its own (InsertSQL), such as
// a data-modifying WITH that writes its rows and their events in one round
// trip.
type Rows struct {
	streams, ids, types, traces, fields []string
	versions                            []int32
	times                               []time.Time
}

// Encode encodes msgs for InsertSQL, filling in each event's ID, Version
// and Time if empty, and its TraceParent, if empty, with the span context
// in ctx (none when tracing is off): the event's consumers continue the
// trace of the request or the handling that wrote it.
func Encode(ctx context.Context, msgs ...*Message) (Rows, error) {
	parent := tracing.TraceParent(ctx)
	n := len(msgs)
	r := Rows{
		streams: make([]string, n), ids: make([]string, n), types: make([]string, n),
		traces: make([]string, n), fields: make([]string, n),
		versions: make([]int32, n), times: make([]time.Time, n),
	}
	for i, m := range msgs {
		e := &m.Event
		if e.TraceParent == "" {
			e.TraceParent = parent
		}
		if err := e.Normalize(); err != nil {
			return Rows{}, fmt.Errorf("outbox: %w", err)
		}
		f, err := json.Marshal(e.Fields)
		if err != nil {
			return Rows{}, fmt.Errorf("outbox: encode %s: %w", e.Type, err)
		}
		r.streams[i], r.ids[i], r.types[i], r.traces[i], r.fields[i] = m.Stream, e.ID, e.Type, e.TraceParent, string(f)
		r.versions[i], r.times[i] = int32(e.Version), e.Time
	}
	return r, nil
}

// Args are the arguments of InsertSQL, in order.
func (r Rows) Args() []any {
	return []any{r.streams, r.ids, r.types, r.versions, r.times, r.traces, r.fields}
}

// InsertSQL is an INSERT of Rows into this outbox whose seven arguments
// are $first to $first+6. A caller may append a WHERE clause.
func (o *Outbox) InsertSQL(first int) string {
	return fmt.Sprintf(`INSERT INTO %s (stream, event_id, event_type, event_version, occurred_at, trace_parent, fields)
		SELECT * FROM unnest($%d::text[], $%d::text[], $%d::text[], $%d::int[], $%d::timestamptz[], $%d::text[], $%d::jsonb[])`,
		o.table, first, first+1, first+2, first+3, first+4, first+5, first+6)
}

// Kick wakes the relay after a transaction with outbox rows committed, so
// they are published now rather than at the next poll. It never blocks.
func (o *Outbox) Kick() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Run relays until ctx is cancelled, then returns nil. Failures (Redis or
// PostgreSQL down) are logged and retried with backoff; the rows stay in
// the outbox meanwhile.
func (o *Outbox) Run(ctx context.Context) error {
	poll := time.NewTicker(o.cfg.Poll)
	defer poll.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	failures := 0
	for {
		n, err := o.RelayOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			d := min(o.cfg.Poll<<min(failures, 5), 5*time.Second)
			d = d/2 + rand.N(d/2+1)
			o.log.WarnContext(ctx, "relay failed; retrying", "err", err, "attempt", failures, "delay", d)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d):
			}
			continue
		}
		failures = 0
		if n == o.cfg.Batch {
			continue // more may be waiting
		}
		if n > 0 && o.cfg.Linger > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(o.cfg.Linger):
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.kick:
		case <-poll.C:
		case <-prune.C:
			if n, err := o.Prune(ctx); err != nil {
				o.log.WarnContext(ctx, "pruning processed event ids failed", "err", err)
			} else if n > 0 {
				o.log.InfoContext(ctx, "pruned processed event ids", "count", n)
			}
		}
	}
}

// Prune forgets consumed event ids older than Config.KeepProcessed and
// returns how many.
func (o *Outbox) Prune(ctx context.Context) (int64, error) {
	tag, err := o.pool.Exec(ctx, `DELETE FROM `+o.seen+` WHERE processed_at < now() - $1::interval`, o.cfg.KeepProcessed)
	if err != nil {
		return 0, fmt.Errorf("prune processed events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RelayOnce publishes up to one batch of committed rows and deletes them,
// returning how many it published. The batch is one pipeline to Redis and
// one transaction in PostgreSQL, whose DELETE ... RETURNING both locks and
// reads the rows. If the pipeline fails part way, the transaction rolls
// back, nothing is deleted and the rows are published again later, with
// their event ids. Config.Published, when set, runs in that transaction
// after the pipeline, so what it records commits with the deletion.
func (o *Outbox) RelayOnce(ctx context.Context) (int, error) {
	tx, err := o.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox relay: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	rows, err := tx.Query(ctx, o.take, o.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("outbox relay: %w", err)
	}
	type row struct {
		id     int64
		stream string
		event  stream.Event
		age    float64 // seconds since the row was written, as it was taken
	}
	var batch []row
	for rows.Next() {
		var (
			r       row
			version int32
		)
		e := &r.event
		if err := rows.Scan(&r.id, &r.stream, &e.ID, &e.Type, &version, &e.Time, &e.TraceParent, &e.Fields, &r.age); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox relay: %w", err)
		}
		e.Version = int(version)
		batch = append(batch, r)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("outbox relay: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	taken := time.Now()
	// RETURNING follows no order: publish in the order of writing.
	slices.SortFunc(batch, func(a, b row) int { return cmp.Compare(a.id, b.id) })
	var spans []func(error)
	ended := func(err error) {
		for _, end := range spans {
			end(err)
		}
	}
	pipe := o.rdb.Pipeline()
	for _, r := range batch {
		if sc := tracing.Parent(r.event.TraceParent); o.tracer != nil && !tracing.Unsampled(sc) {
			// Each event's publish is a span in the trace of what wrote
			// it, and the parent of its consumers' spans; none in a trace
			// not kept, whose consumers follow the traceparent as it is.
			parent := trace.ContextWithRemoteSpanContext(ctx, sc)
			spans = append(spans, stream.TracePublish(parent, o.tracer, r.stream, &r.event))
		}
		if _, err := o.pub.Append(ctx, pipe, r.stream, &r.event); err != nil {
			ended(err)
			return 0, fmt.Errorf("outbox relay: row %d: %w", r.id, err)
		}
	}
	sentAt := time.Now()
	_, err = pipe.Exec(ctx)
	ended(err)
	if err != nil {
		return 0, fmt.Errorf("outbox relay: publish %d events: %w", len(batch), err)
	}
	if o.cfg.Published != nil {
		evs := make([]stream.Event, len(batch))
		for i, r := range batch {
			evs[i] = r.event
		}
		if err := o.cfg.Published(ctx, tx, sentAt, evs); err != nil {
			return 0, fmt.Errorf("outbox relay: record %d published events: %w", len(batch), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("outbox relay: %w", err)
	}
	since := time.Since(taken)
	for _, r := range batch {
		o.cfg.Metrics.Relayed(time.Duration(r.age*float64(time.Second)) + since)
	}
	return len(batch), nil
}

// Pending returns how many events wait in the outbox.
func (o *Outbox) Pending(ctx context.Context) (int64, error) {
	var n int64
	err := o.pool.QueryRow(ctx, `SELECT count(*) FROM `+o.table).Scan(&n)
	return n, err
}

// Backlog returns how many events wait in the outbox of schema and how
// long the oldest has (0 when none does), for the metrics: rows that stay
// mean that no relay runs or that Redis refuses them.
func Backlog(ctx context.Context, pool *pgxpool.Pool, schema string) (int64, time.Duration, error) {
	var (
		n      int64
		oldest float64
	)
	err := pool.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM `+
		pgx.Identifier{schema, "outbox"}.Sanitize()).Scan(&n, &oldest)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox backlog of %s: %w", schema, err)
	}
	return n, time.Duration(oldest * float64(time.Second)), nil
}
