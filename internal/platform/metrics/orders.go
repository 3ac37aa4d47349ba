package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Orders counts what becomes of the orders in the orders service: those
// that reach a final status, and those whose OrderPlaced the reconciler
// publishes again. It has the methods of orders.Metrics and is safe for
// concurrent use.
type Orders struct {
	final       *prometheus.CounterVec
	republished prometheus.Counter
	lookups     prometheus.Counter
	statuses    children[string, prometheus.Counter]
}

// NewOrders returns the orders metrics of r's service; the series of each
// of finals, the names of the final statuses, start at zero.
func (r *Registry) NewOrders(finals ...string) *Orders {
	final := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "streamcart_orders_total",
		Help: "Orders that reached a final status, by status (counted once, by the orders service when it applies the payment outcome).",
	}, []string{"status"})
	republished := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "streamcart_reconciler_republished_total",
		Help: "OrderPlaced events that the reconciler wrote again for orders without a payment outcome after StuckAfter.",
	}, []string{"service"})
	lookups := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "streamcart_price_copy_lookups_total",
		Help: "New orders that asked the products service about products that the copy of the prices did not have, had delisted, or had at another price than the shopper saw (one lookup each).",
	})
	r.MustRegister(final, republished, lookups)
	o := &Orders{final: final, republished: republished.WithLabelValues(r.service), lookups: lookups}
	for _, s := range finals {
		o.counter(s)
	}
	return o
}

// Final counts n orders that reached status, a final status's name.
func (o *Orders) Final(status string, n int) { o.counter(status).Add(float64(n)) }

func (o *Orders) counter(status string) prometheus.Counter {
	return o.statuses.get(status, func() prometheus.Counter { return o.final.WithLabelValues(status) })
}

// Republished counts n orders whose OrderPlaced the reconciler wrote again.
func (o *Orders) Republished(n int) { o.republished.Add(float64(n)) }

// CatalogLookups counts n orders that asked the catalog about products
// the copy of the prices could not sell.
func (o *Orders) CatalogLookups(n int) { o.lookups.Add(float64(n)) }

// WatchPriceCopy reports, every RefreshInterval while r runs, how far the
// orders service's copy of the prices is behind the catalog's changes,
// which lag reads (orders.Service.PriceCopyLag).
func (r *Registry) WatchPriceCopy(lag func(context.Context) (time.Duration, error)) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "streamcart_price_copy_lag_seconds",
		Help: "How long ago the oldest catalog change on PRODUCTS_STREAM that the orders service has not applied to its copy of the prices was appended; 0 when it applied every one.",
	})
	r.MustRegister(g)
	r.refresh("price_copy", func(ctx context.Context) error {
		d, err := lag(ctx)
		if err != nil {
			return err
		}
		g.Set(d.Seconds())
		return nil
	})
}
