package tracing_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/platform/tracing"
	"streamcart/internal/platform/web"
)

// collector is a fake OTLP/HTTP collector: it accepts every export and
// counts them by path.
type collector struct {
	*httptest.Server
	mu    sync.Mutex
	posts map[string]int
}

func newCollector(t testing.TB) *collector {
	c := &collector{posts: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		c.mu.Lock()
		c.posts[r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")]++
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) count() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.posts)
}

// clearEnv unsets every variable that could turn tracing on or off, or
// make FromEnv refuse.
func clearEnv(t *testing.T) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"} {
		t.Setenv(k, "")
	}
	for _, k := range []string{
		"ENDPOINT", "PROTOCOL", "HEADERS", "TIMEOUT", "COMPRESSION", "CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY",
	} {
		t.Setenv("OTEL_EXPORTER_OTLP_"+k, "")
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_"+k, "")
	}
}

// oneSpan records a span with t's provider of service and exports it.
func oneSpan(t *testing.T, tr *tracing.Tracing, service string) {
	t.Helper()
	_, span := tr.Provider(service).Tracer("test").Start(context.Background(), "work")
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// Not parallel: the tests set environment variables.

func TestWithoutTheEndpointVariablesNoExporterIsMadeAndNothingIsSent(t *testing.T) {
	c := newCollector(t)
	clearEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x=1") // other variables alone turn nothing on
	tr, err := tracing.FromEnv(context.Background(), "v")
	if err != nil || tr != nil {
		t.Fatalf("FromEnv = %v, %v; want nil, nil", tr, err)
	}
	tp := tr.Provider("orders")
	if tracing.Enabled(tp) {
		t.Errorf("the provider of a nil Tracing (%T) is enabled", tp)
	}
	oneSpan(t, tr, "orders")
	if got := c.count(); len(got) != 0 {
		t.Errorf("the collector got %v, want nothing", got)
	}
}

func TestTheEndpointVariableExportsWithOTLPOverHTTP(t *testing.T) {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Run(v, func(t *testing.T) {
			c := newCollector(t)
			clearEnv(t)
			url := c.URL
			if v == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" {
				url += "/v1/traces" // this one is the full URL
			}
			t.Setenv(v, url)
			t.Setenv("OTEL_TRACES_SAMPLER", "always_on") // the one span is kept
			tr, err := tracing.FromEnv(context.Background(), "v")
			if err != nil || tr == nil {
				t.Fatalf("FromEnv = %v, %v; want a Tracing", tr, err)
			}
			oneSpan(t, tr, "orders")
			if got := c.count()["POST /v1/traces application/x-protobuf"]; got != 1 {
				t.Errorf("the collector got %v, want one protobuf POST to /v1/traces", c.count())
			}
		})
	}
}

// sampledOf starts n root spans, and n spans under a remote parent that
// was sampled, with tr's provider and reports how many of each were
// sampled.
func sampledOf(t *testing.T, tr *tracing.Tracing, n int) (roots, children int) {
	t.Helper()
	tracer := tr.Provider("gateway").Tracer("test")
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	for range n {
		_, root := tracer.Start(context.Background(), "root")
		_, child := tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "child")
		if root.SpanContext().IsSampled() {
			roots++
		}
		if child.SpanContext().IsSampled() {
			children++
		}
		root.End()
		child.End()
	}
	return roots, children
}

func TestByDefaultOneTraceInTenIsKeptAndAKeptTraceIsKeptWhole(t *testing.T) {
	c := newCollector(t)
	for _, tc := range []struct {
		sampler            string
		minRoots, maxRoots int // of 2,000
	}{
		// 10% of 2,000 is 200; the trace ids are random, and 130 to 270
		// is more than six standard deviations either side.
		{sampler: "", minRoots: 130, maxRoots: 270},
		{sampler: "parentbased_always_on", minRoots: 2000, maxRoots: 2000},
	} {
		t.Run("OTEL_TRACES_SAMPLER="+tc.sampler, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.URL)
			t.Setenv("OTEL_TRACES_SAMPLER", tc.sampler)
			tr, err := tracing.FromEnv(context.Background(), "v")
			if err != nil || tr == nil {
				t.Fatalf("FromEnv = %v, %v; want a Tracing", tr, err)
			}
			defer tr.Shutdown(context.Background())
			roots, children := sampledOf(t, tr, 2000)
			if roots < tc.minRoots || roots > tc.maxRoots {
				t.Errorf("%d of 2000 new traces kept, want %d to %d", roots, tc.minRoots, tc.maxRoots)
			}
			if children != 2000 {
				t.Errorf("%d of 2000 spans under a kept parent kept, want all", children)
			}
		})
	}
}

func TestTracingIsTurnedOffOrRefusedAsTheVariablesSay(t *testing.T) {
	for _, tc := range []struct {
		name, key, value string
		on, fails        bool
	}{
		{"sdk disabled", "OTEL_SDK_DISABLED", "true", false, false},
		{"exporter none", "OTEL_TRACES_EXPORTER", "none", false, false},
		{"exporter otlp", "OTEL_TRACES_EXPORTER", "otlp", true, false},
		{"exporter zipkin", "OTEL_TRACES_EXPORTER", "zipkin", false, true},
		{"protocol http", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", true, false},
		{"protocol grpc", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", false, true},
		{"traces protocol grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", false, true},
		{"timeout in ms", "OTEL_EXPORTER_OTLP_TIMEOUT", "2000", true, false},
		{"timeout with a unit", "OTEL_EXPORTER_OTLP_TIMEOUT", "2s", false, true},
		{"compression zstd", "OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
			t.Setenv(tc.key, tc.value)
			tr, err := tracing.FromEnv(context.Background(), "v")
			if (err != nil) != tc.fails || (tr != nil) != tc.on {
				t.Errorf("%s=%s: FromEnv = %v, %v; want on %v, error %v", tc.key, tc.value, tr, err, tc.on, tc.fails)
			}
			if tr != nil {
				// Nothing was recorded: nothing to send to the closed port.
				if err := tr.Shutdown(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestEachServiceHasItsOwnProviderNamedInItsResource(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.New(exp)
	if tr.Provider("orders") != tr.Provider("orders") {
		t.Error("two providers for one service")
	}
	for _, svc := range []string{"orders", "payments"} {
		_, span := tr.Provider(svc).Tracer("test").Start(context.Background(), "work")
		span.End()
	}
	var got []string
	for _, s := range exp.GetSpans() {
		v, _ := s.Resource.Set().Value(semconv.ServiceNameKey)
		ns, _ := s.Resource.Set().Value(semconv.ServiceNamespaceKey)
		got = append(got, ns.AsString()+"/"+v.AsString())
	}
	if len(got) != 2 || got[0] != "streamcart/orders" || got[1] != "streamcart/payments" {
		t.Errorf("span resources %v, want streamcart/orders and streamcart/payments", got)
	}
}

func TestTraceParentRoundTrips(t *testing.T) {
	t.Parallel()
	tr := tracing.New(tracetest.NewInMemoryExporter())
	ctx, span := tr.Provider("x").Tracer("test").Start(context.Background(), "work")
	defer span.End()
	tp := tracing.TraceParent(ctx)
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if tp != want {
		t.Fatalf("TraceParent = %q, want %q", tp, want)
	}
	if got := tracing.Parent(tp); !got.IsRemote() || got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("Parent(%q) = %+v", tp, got)
	}
	for _, bad := range []string{"", "00-xyz", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if tracing.Parent(bad).IsValid() {
			t.Errorf("Parent(%q) is valid", bad)
		}
	}
	if got := tracing.TraceParent(context.Background()); got != "" {
		t.Errorf("TraceParent without a span = %q", got)
	}
}

func TestHTTPSpansJoinAcrossAServiceCall(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.New(exp)

	// A service with a route, and a public edge that calls it.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	svc := httptest.NewServer(tracing.Server(tr.Provider("svc"), tracing.Trusted, web.NoteRoute(mux)))
	defer svc.Close()
	client := &http.Client{Transport: tracing.Transport(nil)}
	edgeMux := http.NewServeMux()
	edgeMux.HandleFunc("GET /api/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", svc.URL+"/items/"+r.PathValue("id"), nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	edge := httptest.NewServer(tracing.Server(tr.Provider("edge"), tracing.Public, web.NoteRoute(edgeMux)))
	defer edge.Close()

	req, _ := http.NewRequest("GET", edge.URL+"/api/items/42", nil)
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req.Header.Set("traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	spans := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		spans[s.Name] = s
	}
	edgeSpan, callSpan, svcSpan := spans["GET /api/items/{id}"], spans["GET"], spans["GET /items/{id}"]
	if len(spans) != 3 || edgeSpan.SpanKind != trace.SpanKindServer || callSpan.SpanKind != trace.SpanKindClient || svcSpan.SpanKind != trace.SpanKindServer {
		t.Fatalf("spans %v, want the edge's and the service's server spans and the call's client span", spans)
	}
	if edgeSpan.Parent.IsValid() || edgeSpan.SpanContext.TraceID().String() == clientTrace ||
		len(edgeSpan.Links) != 1 || edgeSpan.Links[0].SpanContext.TraceID().String() != clientTrace {
		t.Errorf("public edge: parent %v, links %v; want a new root linked to the client's trace", edgeSpan.Parent, edgeSpan.Links)
	}
	if callSpan.Parent.SpanID() != edgeSpan.SpanContext.SpanID() || svcSpan.Parent.SpanID() != callSpan.SpanContext.SpanID() ||
		svcSpan.SpanContext.TraceID() != edgeSpan.SpanContext.TraceID() {
		t.Errorf("the call is not the edge's child and the service's parent, in one trace")
	}
	if edgeSpan.Status.Code.String() != "Error" || svcSpan.Status.Code.String() != "Unset" {
		t.Errorf("statuses: edge %v (503), service %v (418); want Error and Unset", edgeSpan.Status, svcSpan.Status)
	}
}

func TestWithTracingOffTheHTTPSeamsAddNothing(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	var nilTracing *tracing.Tracing
	if h := tracing.Server(nilTracing.Provider("svc"), tracing.Trusted, mux); h != http.Handler(mux) {
		t.Errorf("Server with tracing off wrapped the handler: %T", h)
	}
	var sent http.Header
	rt := tracing.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r.Header
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	}))
	req := httptest.NewRequest("GET", "http://x/", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 0 {
		t.Errorf("a request without a span was sent with headers %v", sent)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestACallInATraceNotKeptRecordsNoSpanAndPassesTheDecisionOn(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.New(exp) // keeps every span it is asked for: only the seams can skip them

	// A service that calls another; the other notes the traceparent it got.
	var got string
	callee := httptest.NewServer(tracing.Server(tr.Provider("callee"), tracing.Trusted, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
		if sc := trace.SpanContextFromContext(r.Context()); !tracing.Unsampled(sc) {
			t.Errorf("callee's context holds %v, want the trace not kept", sc)
		}
	})))
	defer callee.Close()
	client := &http.Client{Transport: tracing.Transport(nil)}
	caller := httptest.NewServer(tracing.Server(tr.Provider("caller"), tracing.Trusted, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", callee.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	})))
	defer caller.Close()

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", caller.URL, nil)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Errorf("%d spans recorded in a trace not kept, want none: %v", len(spans), spans)
	}
	if sc := tracing.Parent(got); sc.TraceID().String() != traceID || sc.IsSampled() {
		t.Errorf("the callee got traceparent %q, want trace %s, not sampled", got, traceID)
	}
}

// w3c is OpenTelemetry's W3C propagator, which Parent and TraceParent
// must agree with.
var w3c = propagation.TraceContext{}

func TestParentReadsATraceParentAsTheW3CPropagatorDoes(t *testing.T) {
	t.Parallel()
	const (
		tid = "4bf92f3577b34da6a3ce929d0e0e4736"
		sid = "00f067aa0ba902b7"
	)
	cases := []string{
		"00-" + tid + "-" + sid + "-01", "00-" + tid + "-" + sid + "-00", "00-" + tid + "-" + sid + "-02",
		"00-" + tid + "-" + sid + "-03", "00-" + tid + "-" + sid + "-04", "00-" + tid + "-" + sid + "-ff",
		"00-" + tid + "-" + sid + "-01-", "00-" + tid + "-" + sid + "-01-extra", "00-" + tid + "-" + sid + "-01x",
		"01-" + tid + "-" + sid + "-01", "01-" + tid + "-" + sid + "-01-extra", "01-" + tid + "-" + sid + "-01x",
		"01-" + tid + "-" + sid + "-09", "fe-" + tid + "-" + sid + "-01", "ff-" + tid + "-" + sid + "-01",
		"00-" + strings.ToUpper(tid) + "-" + sid + "-01", "0A-" + tid + "-" + sid + "-01", "00-" + tid + "-" + sid + "-0A",
		"00-00000000000000000000000000000000-" + sid + "-01", "00-" + tid + "-0000000000000000-01",
		"00-" + tid[1:] + "-" + sid + "-01", "00-" + tid + "0-" + sid + "-01", "00-" + tid + "-" + sid + "0-01",
		"00_" + tid + "-" + sid + "-01", "00-" + tid + "_" + sid + "-01", "00-" + tid + "-" + sid + "_01",
		"", "00", "00-xyz", " 00-" + tid + "-" + sid + "-01", "00-" + tid + "-" + sid + "-01 ",
		"00-" + tid[:31] + "g-" + sid + "-01", "00-" + tid + "-" + sid[:15] + "G-01",
	}
	for _, s := range cases {
		want := trace.SpanContextFromContext(w3c.Extract(context.Background(), propagation.MapCarrier{"traceparent": s}))
		if got := tracing.Parent(s); !got.Equal(want) {
			t.Errorf("Parent(%q) = %v, the propagator reads %v", s, got, want)
		}
		if !want.IsValid() {
			continue
		}
		// Written back, as the propagator writes it.
		carrier := propagation.MapCarrier{}
		w3c.Inject(trace.ContextWithSpanContext(context.Background(), want), carrier)
		if got := tracing.TraceParent(trace.ContextWithSpanContext(context.Background(), want)); got != carrier["traceparent"] {
			t.Errorf("TraceParent of %q = %q, the propagator writes %q", s, got, carrier["traceparent"])
		}
	}
}
