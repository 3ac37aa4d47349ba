package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"streamcart/internal/platform/metrics"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
)

func newRegistry() *metrics.Registry {
	return metrics.New("orders", slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// value returns the value of the series of name with labels (pairs) in
// what GET /metrics of r answers, failing the test when there is none.
func value(t *testing.T, r *metrics.Registry, name string, labels ...string) float64 {
	t.Helper()
	v, ok := testenv.ParseMetrics(t, scrape(t, r)).Value(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func TestTheRouteLabelIsThePatternNeverThePath(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("/", http.NotFound)
	// As in the services: middleware that replaces the request sits
	// between the metrics and the mux.
	h := r.NewHTTP().Handler(web.WithRequestID(web.CheckInput(slog.New(slog.DiscardHandler), web.NoteRoute(mux))))

	for _, target := range []string{"/orders/o-1", "/orders/o-2", "/orders/o-3"} {
		serve(h, "GET", target)
	}
	serve(h, "GET", "/nowhere/at/all")
	serve(h, "BREW", "/orders/o-4")
	serve(h, "GET", "/orders/%00") // refused before routing

	cases := []struct {
		method, route, status string
		want                  float64
	}{
		{"GET", "GET /orders/{id}", "201", 3},
		{"GET", "/", "404", 1},
		{"other", "/", "404", 1},
		{"GET", metrics.Unrouted, "400", 1},
	}
	for _, c := range cases {
		if got := value(t, r, "http_server_request_duration_seconds", "method", c.method, "route", c.route, "status_code", c.status); got != c.want {
			t.Errorf("requests of %s %q answered %s: %v, want %v", c.method, c.route, c.status, got, c.want)
		}
	}
	text := scrape(t, r)
	for _, raw := range []string{"o-1", "/nowhere", "BREW"} {
		if strings.Contains(text, raw) {
			t.Errorf("the metrics show %q, a client's input:\n%s", raw, text)
		}
	}
}

// serve serves one request of method to target with h.
func serve(h http.Handler, method, target string) {
	req := httptest.NewRequest("GET", target, nil)
	req.Method = method
	h.ServeHTTP(httptest.NewRecorder(), req)
}

// scrape returns what GET /metrics of r answers, after checking it.
func scrape(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Body.String()
}

func TestStreamOutcomesAreCountedPerStreamAndGroup(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	s := r.NewStreams(func(context.Context, string) (metrics.StreamState, error) { return metrics.StreamState{}, nil })
	s.Consuming("ORDERS_STREAM", "payments")
	// A group's series exist, at zero, before anything is handled, so
	// that an alert on their increase sees the first one.
	for _, o := range []string{metrics.Processed, metrics.Failed, metrics.Retried, metrics.Reclaimed, metrics.DeadLettered} {
		if got := value(t, r, "streamcart_stream_messages_total", "stream", "ORDERS_STREAM", "group", "payments", "outcome", o); got != 0 {
			t.Errorf("outcome %s before anything was handled: %v, want 0", o, got)
		}
	}
	s.Processed("ORDERS_STREAM", "payments", 7, 30*time.Millisecond)
	s.Processed("ORDERS_STREAM", "payments", 3, 10*time.Millisecond)
	s.Failed("ORDERS_STREAM", "payments", 2)
	s.Retried("ORDERS_STREAM", "payments", 1)
	s.Reclaimed("ORDERS_STREAM", "payments", 4)
	s.DeadLettered("ORDERS_STREAM", "payments", 1)
	s.Processed("PAYMENTS_STREAM", "orders", 5, time.Millisecond)

	for _, c := range []struct {
		stream, group, outcome string
		want                   float64
	}{
		{"ORDERS_STREAM", "payments", metrics.Processed, 10},
		{"ORDERS_STREAM", "payments", metrics.Failed, 2},
		{"ORDERS_STREAM", "payments", metrics.Retried, 1},
		{"ORDERS_STREAM", "payments", metrics.Reclaimed, 4},
		{"ORDERS_STREAM", "payments", metrics.DeadLettered, 1},
		{"PAYMENTS_STREAM", "orders", metrics.Processed, 5},
	} {
		if got := value(t, r, "streamcart_stream_messages_total", "stream", c.stream, "group", c.group, "outcome", c.outcome); got != c.want {
			t.Errorf("%s/%s %s: %v, want %v", c.stream, c.group, c.outcome, got, c.want)
		}
	}
	// One observation per batch, not per entry.
	if got := value(t, r, "streamcart_stream_handle_seconds", "stream", "ORDERS_STREAM", "group", "payments"); got != 2 {
		t.Errorf("handle_seconds observed %v batches, want 2", got)
	}
}

func TestCountingAllocatesNothing(t *testing.T) {
	r := newRegistry()
	s := r.NewStreams(func(context.Context, string) (metrics.StreamState, error) { return metrics.StreamState{}, nil })
	s.Consuming("ORDERS_STREAM", "payments")
	o := r.NewOutbox(func(context.Context) (int64, time.Duration, error) { return 0, 0, nil })
	orders := r.NewOrders("PAYMENT_SUCCESS")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {})
	h := r.NewHTTP().Handler(web.NoteRoute(mux))
	req := httptest.NewRequest("GET", "/x", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req) // makes the series

	for name, f := range map[string]func(){
		"Processed":    func() { s.Processed("ORDERS_STREAM", "payments", 100, time.Millisecond) },
		"DeadLettered": func() { s.DeadLettered("ORDERS_STREAM", "payments", 1) },
		"Relayed":      func() { o.Relayed(time.Millisecond) },
		"Final":        func() { orders.Final("PAYMENT_SUCCESS", 3) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
	// A request allocates its route note and its response recorder only.
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) }); n > 4 {
		t.Errorf("an observed request allocates %v times, want at most 4", n)
	}
}

func TestGroupStateIsReadWhileTheRegistryRuns(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	reads := make(chan string, 10)
	s := r.NewStreams(func(_ context.Context, stream string) (metrics.StreamState, error) {
		reads <- stream
		return metrics.StreamState{DeadLetters: 2, Groups: []metrics.GroupState{
			{Name: "payments", Lag: 5, Pending: 3, OldestPending: 1500 * time.Millisecond},
			{Name: "identity", Lag: -1},
			{Name: "someone-else", Lag: 99, Pending: 99},
		}}, nil
	})
	s.Consuming("ORDERS_STREAM", "payments")
	s.Consuming("ORDERS_STREAM", "identity")
	s.Consuming("ORDERS_STREAM", "orderhistory") // not in Redis yet
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-reads:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream's state was not read within 10s of Run")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, c := range []struct {
		name, group string
		want        float64
	}{
		{"streamcart_stream_lag", "payments", 5},
		{"streamcart_stream_pending", "payments", 3},
		{"streamcart_stream_oldest_pending_seconds", "payments", 1.5},
		{"streamcart_stream_pending", "orderhistory", 0},
	} {
		if got := value(t, r, c.name, "stream", "ORDERS_STREAM", "group", c.group); got != c.want {
			t.Errorf("%s of %s: %v, want %v", c.name, c.group, got, c.want)
		}
	}
	for _, group := range []string{"identity", "orderhistory"} {
		if got := value(t, r, "streamcart_stream_lag", "group", group); !math.IsNaN(got) {
			t.Errorf("lag of %s, which Redis cannot tell: %v, want NaN", group, got)
		}
	}
	if got := value(t, r, "streamcart_stream_dead_letters", "stream", "ORDERS_STREAM"); got != 2 {
		t.Errorf("dead letters: %v, want 2", got)
	}
	if strings.Contains(scrape(t, r), "someone-else") {
		t.Error("the metrics show a group this process does not consume")
	}
}

func TestAFailedReadIsCountedAndKeepsTheLastValues(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	var reads atomic.Int32
	r.NewOutbox(func(context.Context) (int64, time.Duration, error) {
		if reads.Add(1) > 1 {
			return 0, 0, errors.New("database down")
		}
		return 4, 40 * time.Second, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	// The first read, and one RefreshInterval later the failing one.
	testenv.WaitFor(t, 10*time.Second, "a failed read counted", func() bool {
		n, ok := testenv.ParseMetrics(t, scrape(t, r)).Value("streamcart_metrics_refresh_errors_total", "source", "outbox")
		return ok && n >= 1
	})
	cancel()
	<-done
	expect(t, r, // the last values read
		want{"streamcart_outbox_pending", []string{"service", "orders"}, 4},
		want{"streamcart_outbox_oldest_seconds", []string{"service", "orders"}, 40},
	)
}

// want is the value a series should have.
type want struct {
	name   string
	labels []string
	value  float64
}

// expect checks that the series of r have the values of wants.
func expect(t *testing.T, r *metrics.Registry, wants ...want) {
	t.Helper()
	for _, w := range wants {
		if got := value(t, r, w.name, w.labels...); got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
}

func TestOrdersAndRelayAreReportedWithTheirService(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	o := r.NewOrders("PAYMENT_SUCCESS", "PAYMENT_FAIL")
	if got := value(t, r, "streamcart_orders_total", "status", "PAYMENT_FAIL"); got != 0 {
		t.Errorf("failed orders before any: %v, want 0", got)
	}
	o.Final("PAYMENT_SUCCESS", 3)
	o.Final("PAYMENT_SUCCESS", 2)
	o.Republished(4)
	r.NewOutbox(func(context.Context) (int64, time.Duration, error) { return 0, 0, nil }).Relayed(20 * time.Millisecond)
	expect(t, r,
		want{"streamcart_orders_total", []string{"status", "PAYMENT_SUCCESS"}, 5},
		want{"streamcart_reconciler_republished_total", []string{"service", "orders"}, 4},
		want{"streamcart_outbox_relay_delay_seconds", []string{"service", "orders"}, 1}, // observations
	)
}

func TestTheMetricsFollowPrometheusNamingRules(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	r.NewHTTP()
	s := r.NewStreams(func(context.Context, string) (metrics.StreamState, error) { return metrics.StreamState{}, nil })
	s.Consuming("S", "g")
	r.NewOutbox(func(context.Context) (int64, time.Duration, error) { return 0, 0, nil })
	r.NewOrders("PAYMENT_SUCCESS")
	problems, err := testutil.GatherAndLint(r.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "go_") || strings.HasPrefix(p.Metric, "process_") {
			continue // the client library's own
		}
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// BenchmarkCounting measures what the metrics add to a batch of stream
// entries and to a request.
func BenchmarkCounting(b *testing.B) {
	r := newRegistry()
	s := r.NewStreams(func(context.Context, string) (metrics.StreamState, error) { return metrics.StreamState{}, nil })
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			s.Processed("ORDERS_STREAM", "payments", 100, time.Millisecond)
		}
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(http.ResponseWriter, *http.Request) {})
	req := httptest.NewRequest("GET", "/orders/o-1", nil)
	w := httptest.NewRecorder()
	plain := web.NoteRoute(mux)
	observed := r.NewHTTP().Handler(plain)
	b.Run("request", func(b *testing.B) {
		for b.Loop() {
			plain.ServeHTTP(w, req)
		}
	})
	b.Run("request observed", func(b *testing.B) {
		for b.Loop() {
			observed.ServeHTTP(w, req)
		}
	})
}
