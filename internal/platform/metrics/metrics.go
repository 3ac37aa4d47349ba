// Package metrics is a service's Prometheus metrics: one Registry per
// service, served as GET /metrics in the Prometheus text format, with the
// Go runtime and process collectors, the HTTP server's request durations
// (HTTP), the stream consumers' counts and their groups' state read from
// Redis (Streams), the outbox relay's (Outbox), the orders' outcomes
// (Orders) and the connection pools' statistics (WatchPgxPool,
// WatchRedis).
//
// Every label value is bounded: streams, groups, services, statuses and
// route patterns, never a raw path or an id. The hot paths (a request, a
// batch of stream entries, a relayed row) look their series up in a small
// map of children made once per label set, so counting allocates nothing.
// State that lives outside the process (a group's lag in Redis, the
// outbox's rows in PostgreSQL) is read every RefreshInterval while the
// Registry runs, not at each scrape, so that scrapers cannot add load.
// docs/operations.md says what each metric means.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// RefreshInterval is how often a running Registry reads the state that
// lives outside the process.
const RefreshInterval = 3 * time.Second

// Registry holds one service's metrics. Its methods are safe for
// concurrent use.
type Registry struct {
	service string
	reg     *prometheus.Registry
	log     *slog.Logger
	errors  *prometheus.CounterVec

	mu         sync.Mutex
	refreshers []refresher
	redis      *redisCollector // made by the first WatchRedis
}

// refresher reads one source of state (its name labels its errors).
type refresher struct {
	source string
	read   func(context.Context) error
}

// New returns the Registry of service, with the Go runtime and process
// collectors registered; log gets the failures to read state.
func New(service string, log *slog.Logger) *Registry {
	r := &Registry{
		service: service,
		reg:     prometheus.NewRegistry(),
		log:     log,
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamcart_metrics_refresh_errors_total",
			Help: "Failed reads of the state behind the gauges (source streams and price_copy: Redis; outbox: PostgreSQL); the gauges keep their last values meanwhile.",
		}, []string{"source"}),
	}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), r.errors)
	return r
}

// Service returns the name of the service whose metrics r holds.
func (r *Registry) Service() string { return r.service }

// MustRegister registers cs; it panics when one collides with a metric
// already registered, which is a bug in the wiring.
func (r *Registry) MustRegister(cs ...prometheus.Collector) { r.reg.MustRegister(cs...) }

// Gatherer returns what r gathers, for tests and for serving several
// registries.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves r's metrics in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// refresh adds read to what Run reads every RefreshInterval.
func (r *Registry) refresh(source string, read func(context.Context) error) {
	r.errors.WithLabelValues(source)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshers = append(r.refreshers, refresher{source, read})
}

// Run reads the state behind the gauges (stream groups, outbox) at once
// and then every RefreshInterval, until ctx is cancelled; it returns nil
// then. A failed read is counted, logged once until a read succeeds
// again, and leaves the gauges at their last values.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(RefreshInterval)
	defer t.Stop()
	failing := map[string]bool{}
	for {
		r.mu.Lock()
		refreshers := append([]refresher(nil), r.refreshers...)
		r.mu.Unlock()
		for _, f := range refreshers {
			rctx, cancel := context.WithTimeout(ctx, RefreshInterval)
			err := f.read(rctx)
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				r.errors.WithLabelValues(f.source).Inc()
				if !failing[f.source] {
					r.log.WarnContext(ctx, "reading the state of the metrics failed; will retry", "source", f.source, "err", err)
				}
				failing[f.source] = true
			default:
				failing[f.source] = false
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
