package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Orders counts what becomes of the orders in the orders service: those
// that reach a final status, and those whose OrderPlaced the reconciler
// publishes again. It has the methods of orders.Metrics and is safe for
// concurrent use.
type Orders struct {
	final       *prometheus.CounterVec
	republished prometheus.Counter
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
	r.MustRegister(final, republished)
	o := &Orders{final: final, republished: republished.WithLabelValues(r.service)}
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
