package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// relayBuckets are the bounds, in seconds, of the relay delay: from a
// relay woken by the commit (milliseconds) to rows left for a minute.
var relayBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Outbox reports a service's outbox: how long its relay took to publish
// each row (it has the method of outbox.Metrics), and how many rows wait
// and for how long, read from PostgreSQL. It is safe for concurrent use.
type Outbox struct {
	delay   prometheus.Observer
	pending prometheus.Gauge
	oldest  prometheus.Gauge
	read    OutboxReader
}

// OutboxReader reads how many rows wait in an outbox and the age of the
// oldest (0 when none does).
type OutboxReader func(ctx context.Context) (pending int64, oldest time.Duration, err error)

// NewOutbox returns the outbox metrics of r's service. The outbox is read
// with read every refresh interval while r runs (Registry.Run).
func (r *Registry) NewOutbox(read OutboxReader) *Outbox {
	service := prometheus.Labels{"service": r.service}
	delay := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "streamcart_outbox_relay_delay_seconds",
		Help:    "Time from an outbox row's write (its transaction) to its event's XADD being acknowledged and the row deleted, per row.",
		Buckets: relayBuckets,
	}, []string{"service"})
	pending := gaugeVec("streamcart_outbox_pending", "Outbox rows not yet published, read from PostgreSQL every few seconds.", "service")
	oldest := gaugeVec("streamcart_outbox_oldest_seconds", "Age of the oldest outbox row not yet published; 0 when none waits.", "service")
	r.MustRegister(delay, pending, oldest)
	o := &Outbox{delay: delay.With(service), pending: pending.With(service), oldest: oldest.With(service), read: read}
	r.refresh("outbox", o.refresh)
	return o
}

// Relayed observes the delay of one row from its write to its publication.
func (o *Outbox) Relayed(delay time.Duration) { o.delay.Observe(max(delay, 0).Seconds()) }

func (o *Outbox) refresh(ctx context.Context) error {
	n, oldest, err := o.read(ctx)
	if err != nil {
		return err
	}
	o.pending.Set(float64(n))
	o.oldest.Set(oldest.Seconds())
	return nil
}
