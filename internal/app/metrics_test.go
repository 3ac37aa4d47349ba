package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"streamcart/internal/app"
	"streamcart/internal/events"
	"streamcart/internal/payments"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// metricsOf scrapes the metrics of service name of the shop.
func (s *shop) metricsOf(name string) testenv.Metrics {
	s.t.Helper()
	m, ok := testenv.ScrapeMetrics(s.t, s.sys.MetricsURLs[name])
	if !ok {
		s.t.Fatalf("the metrics of %s at %s do not answer 200", name, s.sys.MetricsURLs[name])
	}
	return m
}

// waitForMetric waits until the series of name with labels of service's
// metrics satisfies cond.
func (s *shop) waitForMetric(service, name string, cond func(float64) bool, labels ...string) {
	s.t.Helper()
	testenv.WaitFor(s.t, 30*time.Second, service+"'s "+name+fmt.Sprint(labels), func() bool {
		v, ok := s.metricsOf(service).Value(name, labels...)
		return ok && cond(v)
	})
}

func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
func exactly(n float64) func(float64) bool { return func(v float64) bool { return v == n } }

func TestMetricsCountOrdersRequestsAndDeadLetters(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{trustProxy: true, redisUsers: true, metrics: true})
	ctx := t.Context()

	// Every service's metrics are on the metrics address; the gateway's
	// public port serves none of them.
	metricsHost := ""
	for _, name := range app.Services {
		u, err := url.Parse(s.sys.MetricsURLs[name])
		if err != nil || u.Path != "/metrics/"+name {
			t.Fatalf("metrics URL of %s: %q, want /metrics/%s on the metrics address", name, s.sys.MetricsURLs[name], name)
		}
		if metricsHost != "" && u.Host != metricsHost {
			t.Errorf("metrics of %s on %s, the others' on %s", name, u.Host, metricsHost)
		}
		metricsHost = u.Host
	}
	for _, path := range []string{"/metrics", "/metrics/orders", "/metrics/gateway"} {
		resp, body := testenv.Do(t, nil, testenv.Request{Method: "GET", URL: s.sys.URLs[app.Gateway] + path})
		if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "go_goroutines") {
			t.Errorf("the gateway's public port answers GET %s with %d:\n%.300s", path, resp.StatusCode, body)
		}
	}
	// A service's own (internal) port serves its own metrics.
	if m, ok := testenv.ScrapeMetrics(t, s.sys.URLs[app.Payments]+"/metrics"); !ok {
		t.Error("GET /metrics on the payments port does not answer 200")
	} else if _, ok := m.Value("streamcart_stream_messages_total", "stream", events.OrdersStream, "group", payments.Group); !ok {
		t.Error("GET /metrics on the payments port has no stream counts of payments")
	}

	// One order paid, one declined (above PaymentFailAbove, 500.00), both
	// through the gateway.
	sh := s.shopper("metrics-test", "10.1.2.3")
	p := s.catalog(1)[0]
	if p.PriceCents*99 <= 50000 {
		t.Fatalf("product %s at %d cents cannot make an order above 500.00", p.ID, p.PriceCents)
	}
	for _, qty := range []int{1, 99} {
		var o order
		if code := sh.do("POST", "/api/v1/orders", map[string]any{"items": []item{{ProductID: p.ID, Qty: qty}}}, &o); code != 201 {
			t.Fatalf("order of %d: status %d", qty, code)
		}
	}
	// A poison entry (an event version nobody knows): dead-lettered.
	admin := adminClient(t, s.redis)
	future := events.OrderPlaced{Order: events.Order{
		OrderID: stream.NewID(), UserID: "u-x", AmountCents: 100, CreatedOn: time.Now(),
		Items: []events.LineItem{{ProductID: p.ID, Qty: 1, PriceCents: 100}},
	}}.Event(s.sys.OrderKey)
	future.Version = 99
	if _, err := stream.NewPublisher(admin, nil).Publish(ctx, events.OrdersStream, future); err != nil {
		t.Fatal(err)
	}

	orders, group := []string{"stream", events.OrdersStream, "group", payments.Group}, payments.Group
	s.waitForMetric(app.Payments, "streamcart_stream_messages_total", atLeast(1), append(orders, "outcome", "dead_lettered")...)
	s.waitForMetric(app.Payments, "streamcart_stream_messages_total", atLeast(2), append(orders, "outcome", "processed")...)
	// Read from Redis by payments, as its own Redis user.
	s.waitForMetric(app.Payments, "streamcart_stream_dead_letters", atLeast(3), "stream", events.OrdersStream) // by payments, identity, orderhistory
	s.waitForMetric(app.Orders, "streamcart_orders_total", exactly(1), "status", "PAYMENT_SUCCESS")
	s.waitForMetric(app.Orders, "streamcart_orders_total", exactly(1), "status", "PAYMENT_FAIL")
	testenv.WaitFor(t, 30*time.Second, "the orders stream handled", func() bool {
		return testenv.Handled(ctx, admin, group, events.OrdersStream)
	})
	s.waitForMetric(app.Payments, "streamcart_stream_pending", exactly(0), orders...)
	s.waitForMetric(app.Payments, "streamcart_stream_lag", exactly(0), orders...)
	s.waitForMetric(app.Payments, "streamcart_stream_oldest_pending_seconds", exactly(0), orders...)
	s.waitForMetric(app.Orders, "streamcart_outbox_pending", exactly(0), "service", app.Orders)

	m := s.metricsOf(app.Orders)
	for _, c := range []struct {
		name   string
		labels []string
		want   func(float64) bool
	}{
		{"streamcart_outbox_relay_delay_seconds", []string{"service", app.Orders}, atLeast(2)},
		// The tests' StuckAfter is 2 s: on a busy machine the reconciler may republish.
		{"streamcart_reconciler_republished_total", []string{"service", app.Orders}, atLeast(0)},
		{"http_server_request_duration_seconds", []string{"method", "POST", "route", "POST /orders", "status_code", "201"}, exactly(2)},
		{"streamcart_stream_handle_seconds", []string{"stream", events.PaymentsStream, "group", "orders"}, atLeast(1)},
		{"streamcart_pgxpool_max_conns", nil, exactly(20)},
		{"streamcart_redis_pool_total_conns", []string{"user", app.Orders}, atLeast(1)},
	} {
		if v, ok := m.Value(c.name, c.labels...); !ok || !c.want(v) {
			t.Errorf("orders' %s%v = %v (found: %v)", c.name, c.labels, v, ok)
		}
	}
	g := s.metricsOf(app.Gateway)
	if v, _ := g.Value("http_server_request_duration_seconds", "route", "POST /api/v1/orders", "status_code", "201"); v != 2 {
		t.Errorf("the gateway observed %v orders created, want 2", v)
	}
	if _, ok := g.Value("streamcart_redis_pool_total_conns", "user", app.Ops); !ok {
		t.Error("the gateway reports no pool of the operations page's Redis client")
	}
	for _, f := range g["http_server_request_duration_seconds"].GetMetric() {
		for _, l := range f.GetLabel() {
			if strings.Contains(l.GetValue(), "o-") || strings.Contains(l.GetValue(), p.ID) {
				t.Errorf("a label of the gateway's requests holds an id: %s=%q", l.GetName(), l.GetValue())
			}
		}
	}
}

func TestWithMetricsOffAnOrderIsPaidAndNoServiceServesMetrics(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{metrics: true, noMetrics: true})
	if len(s.sys.MetricsURLs) != 0 {
		t.Errorf("metrics off, yet metrics are served at %v", s.sys.MetricsURLs)
	}
	for _, name := range app.Services {
		resp, body := testenv.Do(t, nil, testenv.Request{Method: "GET", URL: s.sys.URLs[name] + "/metrics"})
		if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "go_goroutines") {
			t.Errorf("metrics off, yet %s answers GET /metrics with %d:\n%.300s", name, resp.StatusCode, body)
		}
	}
	sh := s.shopper("no-metrics", "10.1.2.4")
	o := sh.placeOrder(item{ProductID: s.catalog(1)[0].ID, Qty: 1})
	if rec := sh.settledRecord(o.OrderID); rec.Status != 4 {
		t.Errorf("order %s settled with status %d, want 4 (PAYMENT_SUCCESS)", o.OrderID, rec.Status)
	}
}
