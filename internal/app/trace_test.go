package app_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/app"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/tracing"
)

// spanOf names a span by its service (its resource's service.name) and
// its name.
type spanOf struct{ service, name string }

func (s spanOf) String() string { return s.service + ": " + s.name }

func spanKey(s tracetest.SpanStub) spanOf {
	v, _ := s.Resource.Set().Value(semconv.ServiceNameKey)
	return spanOf{v.AsString(), s.Name}
}

func TestAnOrderIsOneTraceFromItsPostToItsFinalStatus(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	s := startShop(t, shopOptions{trustProxy: true, tracing: tracing.New(exp)})
	sh := s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", "192.0.2.20")
	p := s.catalog(1)[0]

	// A client's own trace is linked to, never joined: the gateway is
	// public.
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	var o order
	if code := sh.do("POST", "/api/v1/orders", map[string]any{"items": []item{{ProductID: p.ID, Qty: 1}}}, &o,
		"traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01"); code != 201 {
		t.Fatalf("create order: %d", code)
	}
	testenv.WaitFor(t, 30*time.Second, "order "+o.OrderID+" final", func() bool {
		var got order
		code := sh.do("GET", "/api/v1/orders/"+o.OrderID, nil, &got)
		return code == 200 && (got.Status == 4 || got.Status == -4)
	})

	post := spanOf{app.Gateway, "POST /api/v1/orders"}
	// The order's way, each span the parent of the next: the gateway's
	// request, its call to orders, orders' request, the relay's publish
	// of OrderPlaced, payments' handling of it, the relay's publish of
	// PaymentProcessed, and orders' handling of that: the status update.
	chain := []spanOf{
		post,
		{app.Gateway, "POST"},
		{app.Orders, "POST /orders"},
		{app.Orders, "publish ORDERS_STREAM"},
		{app.Payments, "process ORDERS_STREAM"},
		{app.Payments, "publish PAYMENTS_STREAM"},
		{app.Orders, "process PAYMENTS_STREAM"},
	}
	// Others in the same trace: the order check, payments' outbox insert,
	// and the other consumers of both events. (orders prices the order
	// from its copy of the prices: asking products is not in the trace,
	// unless the order came before the copy had the product.)
	others := []spanOf{
		{app.Orders, "POST /orders/lookup"},
		{app.Payments, "outbox insert"},
		{app.Identity, "process ORDERS_STREAM"},
		{app.History, "process ORDERS_STREAM"},
		{app.History, "process PAYMENTS_STREAM"},
	}
	// The spans end as the work does: poll until the trace is whole.
	var (
		inTrace  map[spanOf][]tracetest.SpanStub
		problems []string
	)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		inTrace, problems = orderTrace(exp.GetSpans(), post, chain, others)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	if got := inTrace[post]; len(got) == 1 && (len(got[0].Links) != 1 || got[0].Links[0].SpanContext.TraceID().String() != clientTrace) {
		t.Errorf("the gateway's span links %v, want one to the client's trace", got[0].Links)
	}
	if t.Failed() {
		var names []string
		for k := range inTrace {
			names = append(names, k.String())
		}
		t.Logf("spans in the order's trace: %s", strings.Join(names, "; "))
	}
}

// orderTrace returns the spans of the trace that the span post starts, and
// what is wrong with it: post missing, a span of chain that is not the
// child of a span of the one before it, or one of others missing. A
// handling that timed out on a busy machine is retried: each step of
// chain needs one span without an error whose parent is a span of the
// step before.
func orderTrace(spans []tracetest.SpanStub, post spanOf, chain, others []spanOf) (map[spanOf][]tracetest.SpanStub, []string) {
	var traceID trace.TraceID
	for _, sp := range spans {
		if spanKey(sp) == post {
			traceID = sp.SpanContext.TraceID()
		}
	}
	if !traceID.IsValid() {
		return nil, []string{fmt.Sprintf("no span %v", post)}
	}
	inTrace := map[spanOf][]tracetest.SpanStub{}
	for _, sp := range spans {
		if sp.SpanContext.TraceID() == traceID {
			inTrace[spanKey(sp)] = append(inTrace[spanKey(sp)], sp)
		}
	}
	var problems []string
	for i, k := range chain[1:] {
		parents := map[trace.SpanID]bool{}
		for _, sp := range inTrace[chain[i]] {
			parents[sp.SpanContext.SpanID()] = true
		}
		if !slices.ContainsFunc(inTrace[k], func(sp tracetest.SpanStub) bool {
			return parents[sp.Parent.SpanID()] && sp.Status.Code != codes.Error
		}) {
			problems = append(problems, fmt.Sprintf("no %v without an error whose parent is a %v", k, chain[i]))
		}
	}
	for _, k := range others {
		if len(inTrace[k]) == 0 {
			problems = append(problems, fmt.Sprintf("no %v in the order's trace", k))
		}
	}
	return inTrace, problems
}

func TestWithoutTracingNoSpanIsMade(t *testing.T) {
	t.Parallel()
	if tp := (*tracing.Tracing)(nil).Provider(app.Orders); tracing.Enabled(tp) {
		t.Fatalf("a nil Tracing's provider %T is enabled", tp)
	}
	// Nothing else to watch: with no provider every seam is skipped. The
	// envelope shows it: no traceparent reaches the stream.
	s := startShop(t, shopOptions{services: []string{app.Products, app.Orders}})
	p := s.catalog(1)[0]
	o := s.placeOrder("no-trace", item{ProductID: p.ID, Qty: 1})
	rdb := s.redisClient()
	var entry map[string]any
	testenv.WaitFor(t, 30*time.Second, "order "+o.OrderID+" on the stream", func() bool {
		msgs, err := rdb.XRange(t.Context(), "ORDERS_STREAM", "-", "+").Result()
		if err != nil || len(msgs) == 0 {
			return false
		}
		entry = msgs[len(msgs)-1].Values
		return true
	})
	if tp, ok := entry["traceparent"]; ok {
		t.Errorf("entry without tracing has traceparent %v", tp)
	}
}
