package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/events"
	"streamcart/internal/orders"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/metrics"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// instruments are one service's metrics and what their state is read
// from: its Redis client (its consumer groups) and its pool (its outbox),
// and its TracerProvider.
// The stream and outbox metrics are made when a part of the service first
// needs them, so a service has only those it uses.
type instruments struct {
	reg     *metrics.Registry
	rdb     redis.UniversalClient
	pool    *pgxpool.Pool
	streams *metrics.Streams
	outbox  *metrics.Outbox
	// partitions is how many partitions each stream has.
	partitions int
	// tracer records the service's spans (tracing.Tracing.Provider).
	tracer trace.TracerProvider
}

// newInstruments returns the metrics of service name, with its pools'
// statistics; with off, instruments that record nothing, read nothing and
// serve nothing (Config.NoMetrics).
func newInstruments(name string, rdb redis.UniversalClient, pool *pgxpool.Pool, off bool, log *slog.Logger) *instruments {
	if off {
		return &instruments{rdb: rdb, pool: pool}
	}
	reg := metrics.New(name, log)
	reg.WatchRedis(name, rdb)
	if pool != nil {
		reg.WatchPgxPool(pool)
	}
	return &instruments{reg: reg, rdb: rdb, pool: pool}
}

// on reports whether the service has metrics.
func (in *instruments) on() bool { return in.reg != nil }

// watchRedis adds the statistics of another of the service's Redis
// clients, that of user.
func (in *instruments) watchRedis(user string, rdb redis.UniversalClient) {
	if in.on() {
		in.reg.WatchRedis(user, rdb)
	}
}

// streamMetrics returns the metrics of the service's consumers, which
// read their groups' state with the service's own Redis user (whose
// grants allow it: RedisUsers); nil without metrics.
func (in *instruments) streamMetrics() stream.Metrics {
	if !in.on() {
		return nil
	}
	if in.streams == nil {
		in.streams = in.reg.NewStreams(func(ctx context.Context, name string) (metrics.StreamState, error) {
			return streamState(ctx, in.rdb, name, in.partitions)
		})
	}
	return in.streams
}

// streamState reads the state of the logical stream name, summed over its
// partitions: the dead letters, and each group's lag and pending entries;
// its oldest pending entry is the oldest of any partition. A group's lag
// is unknown (-1) when it is on any partition, or when the group is not
// on every partition yet.
func streamState(ctx context.Context, rdb redis.UniversalClient, name string, partitions int) (metrics.StreamState, error) {
	var (
		st     metrics.StreamState
		groups = map[string]int{} // index in st.Groups
		seen   = map[string]int{} // partitions the group is on
	)
	keys := stream.Partitions(name, partitions)
	for _, key := range keys {
		info, err := stream.Inspect(ctx, rdb, key)
		if err != nil {
			return metrics.StreamState{}, err
		}
		st.DeadLetters += info.DeadLetters
		for _, g := range info.Groups {
			i, ok := groups[g.Name]
			if !ok {
				i = len(st.Groups)
				groups[g.Name] = i
				st.Groups = append(st.Groups, metrics.GroupState{Name: g.Name})
			}
			seen[g.Name]++
			sum := &st.Groups[i]
			if sum.Lag >= 0 {
				sum.Lag += g.Lag
				if g.Lag < 0 {
					sum.Lag = -1
				}
			}
			sum.Pending += g.Pending
			sum.OldestPending = max(sum.OldestPending, g.OldestPendingAge)
		}
	}
	for i, g := range st.Groups {
		if seen[g.Name] < len(keys) {
			st.Groups[i].Lag = -1
		}
	}
	return st, nil
}

// outboxMetrics returns the metrics of the service's outbox in schema;
// nil without metrics.
func (in *instruments) outboxMetrics(schema string) outbox.Metrics {
	if !in.on() {
		return nil
	}
	if in.outbox == nil {
		in.outbox = in.reg.NewOutbox(func(ctx context.Context) (int64, time.Duration, error) {
			return outbox.Backlog(ctx, in.pool, schema)
		})
	}
	return in.outbox
}

// ordersMetrics returns the metrics of the orders' outcomes; nil without
// metrics.
func (in *instruments) ordersMetrics() orders.Metrics {
	if !in.on() {
		return nil
	}
	return in.reg.NewOrders(events.StatusPaymentSuccess.String(), events.StatusPaymentFail.String())
}

// watchPriceCopy reports how far the orders' copy of the prices is
// behind the catalog, which lag reads; nothing without metrics.
func (in *instruments) watchPriceCopy(lag func(context.Context) (time.Duration, error)) {
	if in.on() {
		in.reg.WatchPriceCopy(lag)
	}
}

// serveMetrics serves, on cfg.MetricsAddr, GET /metrics/{service} for each
// running service and, when there is one, GET /metrics too, and records
// there where each service's metrics are in s.MetricsURLs.
func (s *System) serveMetrics(ctx context.Context, cfg Config) error {
	ln, err := web.Listen(cfg.MetricsAddr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	for name, reg := range s.metrics {
		mux.Handle("GET /metrics/"+name, reg.Handler())
		s.MetricsURLs[name] = base + "/metrics/" + name
		if len(s.metrics) == 1 {
			mux.Handle("GET /metrics", reg.Handler())
			s.MetricsURLs[name] = base + "/metrics"
		}
	}
	log := cfg.Log.With("service", "metrics")
	if len(s.metrics) == 1 { // serve: the process is the service's
		for name := range s.metrics {
			log = cfg.Log.With("service", name)
		}
	}
	s.group.Go(func() error { return web.Serve(ctx, ln, web.NoSniff(mux), log, cfg.ShutdownTimeout) })
	return nil
}
