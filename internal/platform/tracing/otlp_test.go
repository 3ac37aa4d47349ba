package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The exporter's tests read what it sent with the generated OTLP types,
// which the binary does not link. They decode a request as TracesData:
// the collector's ExportTraceServiceRequest is the same message (field 1,
// resource_spans), and its package would bring gRPC into go.mod.

// otlpServer is a collector on loopback that records each request, its
// body uncompressed, and answers with answer (200 when nil); n counts
// the requests from 1.
type otlpServer struct {
	*httptest.Server
	answer func(n int, w http.ResponseWriter, r *http.Request)

	mu  sync.Mutex
	got []otlpRequest
}

type otlpRequest struct {
	path   string
	header http.Header
	body   []byte
}

func newOTLPServer(t *testing.T, tls bool, answer func(n int, w http.ResponseWriter, r *http.Request)) *otlpServer {
	s := &otlpServer{answer: answer}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, otlpRequest{r.URL.Path, r.Header.Clone(), b})
		n := len(s.got)
		s.mu.Unlock()
		if s.answer != nil {
			s.answer(n, w, r)
		}
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *otlpServer) requests() []otlpRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]otlpRequest(nil), s.got...)
}

// hang answers when the request's context ends, or the test does.
func hang(t *testing.T) func(int, http.ResponseWriter, *http.Request) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
}

func testExporter(t *testing.T, env map[string]string) *otlpExporter {
	t.Helper()
	cfg, err := otlpConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	e := newOTLPExporter(cfg, "test")
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

// must returns v, for the constants of exampleSpans, which parse.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// exampleSpans returns four spans, of two resources and three scopes,
// with every kind of field and attribute value filled in, and the OTLP
// that says the same, written out by hand from opentelemetry-proto.
func exampleSpans() ([]sdktrace.ReadOnlySpan, *tracepb.TracesData) {
	const (
		traceHex  = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanHex   = "00f067aa0ba902b7"
		parentHex = "b7ad6b7169203331"
		linkTrace = "0af7651916cd43dd8448eb211c80319c"
		linkSpan  = "b9c7c989f97918e1"
		childHex  = "1111111111111111"
		laterHex  = "2222222222222222"
		otherHex  = "3333333333333333"
		otherTr   = "5bf92f3577b34da6a3ce929d0e0e4737"
		schema    = "https://opentelemetry.io/schemas/1.40.0"
	)
	start := time.Unix(1732570000, 123456789)
	startNs := uint64(1732570000_123456789)
	traceID := must(trace.TraceIDFromHex(traceHex))
	sampled := trace.SpanContextConfig{TraceID: traceID, TraceFlags: trace.FlagsSampled}
	spanContext := func(id string, remote bool) trace.SpanContext {
		c := sampled
		c.SpanID, c.Remote = must(trace.SpanIDFromHex(id)), remote
		return trace.NewSpanContext(c)
	}
	orders := resource.NewWithAttributes(schema,
		attribute.String("service.name", "orders"),
		attribute.String("service.namespace", "streamcart"),
		attribute.Int64("process.pid", 7),
	)
	payments := resource.NewSchemaless(attribute.String("service.name", "payments"))
	httpScope := instrumentation.Scope{
		Name: "streamcart/http", Version: "1.2.3", SchemaURL: "https://example.com/scope",
		Attributes: attribute.NewSet(attribute.Bool("scope.flag", true)),
	}
	streamScope := instrumentation.Scope{Name: "streamcart/stream"}
	testScope := instrumentation.Scope{Name: "test"}

	server := sampled
	server.SpanID, server.TraceState = must(trace.SpanIDFromHex(spanHex)), must(trace.ParseTraceState("vendor=opaque"))
	link := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: must(trace.TraceIDFromHex(linkTrace)), SpanID: must(trace.SpanIDFromHex(linkSpan)), TraceFlags: trace.FlagsSampled,
		TraceState: must(trace.ParseTraceState("l=1")), Remote: true,
	})
	stubs := tracetest.SpanStubs{
		{ // a server span continuing a remote parent, with everything
			Name: "POST /orders", SpanContext: trace.NewSpanContext(server), Parent: spanContext(parentHex, true),
			SpanKind: trace.SpanKindServer, StartTime: start, EndTime: start.Add(1500 * time.Microsecond),
			Attributes: []attribute.KeyValue{
				attribute.String("http.request.method", "POST"),
				attribute.String("empty", ""),
				attribute.Bool("yes", true),
				attribute.Bool("no", false),
				attribute.Int64("int", -42),
				attribute.Int64("zero", 0),
				attribute.Float64("double", 2.5),
				attribute.StringSlice("strings", []string{"a", ""}),
				attribute.Int64Slice("ints", []int64{1, -2}),
				attribute.BoolSlice("bools", []bool{true, false}),
				attribute.Float64Slice("doubles", []float64{0.5, -1}),
				attribute.ByteSlice("bytes", []byte{0, 1, 2}),
				attribute.Slice("mixed", attribute.StringValue("x"), attribute.Int64Value(3)),
				attribute.Map("map", attribute.String("k", "v"), attribute.Bool("b", false)),
				{Key: "nothing", Value: attribute.Value{}},
				attribute.String("long", strings.Repeat("é", 100)), // a length of two bytes
			},
			Events: []sdktrace.Event{
				{Name: "exception", Time: start.Add(time.Millisecond), DroppedAttributeCount: 1,
					Attributes: []attribute.KeyValue{attribute.String("exception.type", "*errors.errorString")}},
				{Name: "retry", Time: start.Add(2 * time.Millisecond)},
			},
			Links: []sdktrace.Link{{SpanContext: link, DroppedAttributeCount: 4,
				Attributes: []attribute.KeyValue{attribute.Int64("streamcart.deliveries", 2)}}},
			Status:            sdktrace.Status{Code: codes.Error, Description: "boom"},
			DroppedAttributes: 2, DroppedEvents: 1, DroppedLinks: 3,
			Resource: orders, InstrumentationScope: httpScope,
		},
		{ // a consumer span with a local parent, in another scope
			Name: "process ORDERS_STREAM", SpanContext: spanContext(childHex, false), Parent: spanContext(spanHex, false),
			SpanKind: trace.SpanKindConsumer, StartTime: start, EndTime: start.Add(time.Second),
			Status:   sdktrace.Status{Code: codes.Ok},
			Resource: orders, InstrumentationScope: streamScope,
		},
		{ // a root, not sampled, of another service
			Name: "work", SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: must(trace.TraceIDFromHex(otherTr)), SpanID: must(trace.SpanIDFromHex(otherHex))}),
			SpanKind: trace.SpanKindInternal, StartTime: start, EndTime: start,
			Resource: payments, InstrumentationScope: testScope,
		},
		{ // the first one's scope again
			Name: "GET", SpanContext: spanContext(laterHex, false), Parent: spanContext(spanHex, false),
			SpanKind: trace.SpanKindClient, StartTime: start, EndTime: start.Add(time.Millisecond),
			Resource: orders, InstrumentationScope: httpScope,
		},
	}

	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	boolean := func(b bool) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
	}
	integer := func(i int64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
	}
	double := func(d float64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: d}}
	}
	array := func(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
	}
	kv := func(k string, v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: v} }
	id := func(h string) []byte {
		if len(h) == 32 {
			b := must(trace.TraceIDFromHex(h))
			return b[:]
		}
		b := must(trace.SpanIDFromHex(h))
		return b[:]
	}
	const (
		sampledBit = 0x01
		hasRemote  = 0x100
		isRemote   = 0x200
	)
	want := &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{
		{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{ // sorted by key
				kv("process.pid", integer(7)), kv("service.name", str("orders")), kv("service.namespace", str("streamcart")),
			}},
			SchemaUrl: schema,
			ScopeSpans: []*tracepb.ScopeSpans{
				{
					Scope: &commonpb.InstrumentationScope{Name: "streamcart/http", Version: "1.2.3",
						Attributes: []*commonpb.KeyValue{kv("scope.flag", boolean(true))}},
					SchemaUrl: "https://example.com/scope",
					Spans: []*tracepb.Span{
						{
							TraceId: id(traceHex), SpanId: id(spanHex), TraceState: "vendor=opaque", ParentSpanId: id(parentHex),
							Flags: sampledBit | hasRemote | isRemote,
							Name:  "POST /orders", Kind: tracepb.Span_SPAN_KIND_SERVER,
							StartTimeUnixNano: startNs, EndTimeUnixNano: startNs + 1_500_000,
							Attributes: []*commonpb.KeyValue{
								kv("http.request.method", str("POST")),
								kv("empty", str("")),
								kv("yes", boolean(true)),
								kv("no", boolean(false)),
								kv("int", integer(-42)),
								kv("zero", integer(0)),
								kv("double", double(2.5)),
								kv("strings", array(str("a"), str(""))),
								kv("ints", array(integer(1), integer(-2))),
								kv("bools", array(boolean(true), boolean(false))),
								kv("doubles", array(double(0.5), double(-1))),
								kv("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 2}}}),
								kv("mixed", array(str("x"), integer(3))),
								kv("map", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
									Values: []*commonpb.KeyValue{kv("b", boolean(false)), kv("k", str("v"))}, // sorted, as attribute.Map keeps them
								}}}),
								kv("nothing", &commonpb.AnyValue{}),
								kv("long", str(strings.Repeat("é", 100))),
							},
							DroppedAttributesCount: 2,
							Events: []*tracepb.Span_Event{
								{Name: "exception", TimeUnixNano: startNs + 1_000_000, DroppedAttributesCount: 1,
									Attributes: []*commonpb.KeyValue{kv("exception.type", str("*errors.errorString"))}},
								{Name: "retry", TimeUnixNano: startNs + 2_000_000},
							},
							DroppedEventsCount: 1,
							Links: []*tracepb.Span_Link{{
								TraceId: id(linkTrace), SpanId: id(linkSpan), TraceState: "l=1",
								Attributes:             []*commonpb.KeyValue{kv("streamcart.deliveries", integer(2))},
								DroppedAttributesCount: 4,
								Flags:                  sampledBit | hasRemote | isRemote,
							}},
							DroppedLinksCount: 3,
							Status:            &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"},
						},
						{
							TraceId: id(traceHex), SpanId: id(laterHex), ParentSpanId: id(spanHex),
							Flags: sampledBit | hasRemote,
							Name:  "GET", Kind: tracepb.Span_SPAN_KIND_CLIENT,
							StartTimeUnixNano: startNs, EndTimeUnixNano: startNs + 1_000_000,
						},
					},
				},
				{
					Scope: &commonpb.InstrumentationScope{Name: "streamcart/stream"},
					Spans: []*tracepb.Span{{
						TraceId: id(traceHex), SpanId: id(childHex), ParentSpanId: id(spanHex),
						Flags: sampledBit | hasRemote,
						Name:  "process ORDERS_STREAM", Kind: tracepb.Span_SPAN_KIND_CONSUMER,
						StartTimeUnixNano: startNs, EndTimeUnixNano: startNs + 1_000_000_000,
						Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
					}},
				},
			},
		},
		{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("payments"))}},
			ScopeSpans: []*tracepb.ScopeSpans{{
				Scope: &commonpb.InstrumentationScope{Name: "test"},
				Spans: []*tracepb.Span{{
					TraceId: id(otherTr), SpanId: id(otherHex), Flags: hasRemote,
					Name: "work", Kind: tracepb.Span_SPAN_KIND_INTERNAL,
					StartTimeUnixNano: startNs, EndTimeUnixNano: startNs,
				}},
			}},
		},
	}}
	return stubs.Snapshots(), want
}

func TestTheExporterSendsTheSpansAsOTLPProtobuf(t *testing.T) {
	t.Parallel()
	for _, compression := range []string{"none", "gzip"} {
		t.Run(compression, func(t *testing.T) {
			t.Parallel()
			srv := newOTLPServer(t, false, nil)
			exp := testExporter(t, map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":    srv.URL,
				"OTEL_EXPORTER_OTLP_COMPRESSION": compression,
			})
			spans, want := exampleSpans()
			if err := exp.ExportSpans(t.Context(), spans); err != nil {
				t.Fatalf("export: %v", err)
			}
			reqs := srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("the collector got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			wantEncoding := map[string]string{"none": "", "gzip": "gzip"}[compression]
			if r.path != "/v1/traces" || r.header.Get("Content-Type") != "application/x-protobuf" ||
				r.header.Get("Content-Encoding") != wantEncoding {
				t.Errorf("request to %s, Content-Type %q, Content-Encoding %q; want /v1/traces, application/x-protobuf, %q",
					r.path, r.header.Get("Content-Type"), r.header.Get("Content-Encoding"), wantEncoding)
			}
			var got tracepb.TracesData
			if err := proto.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("the body is not OTLP protobuf: %v", err)
			}
			if diff := cmp.Diff(want, &got, protocmp.Transform()); diff != "" {
				t.Errorf("the collector got other spans than were sent (-want +got):\n%s", diff)
			}
			// Nothing the decoder did not know: every field has its
			// number in opentelemetry-proto.
			if unknown := unknownFields(got.ProtoReflect()); unknown != "" {
				t.Errorf("fields unknown to opentelemetry-proto in %s", unknown)
			}
		})
	}
}

// unknownFields names the first message in m's tree that holds fields its
// type does not declare, or "".
func unknownFields(m protoreflect.Message) string {
	if len(m.GetUnknown()) > 0 {
		return string(m.Descriptor().FullName())
	}
	found := ""
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				if found = unknownFields(v.List().Get(i).Message()); found != "" {
					return false
				}
			}
		case fd.Message() != nil && !fd.IsMap():
			found = unknownFields(v.Message())
		}
		return found == ""
	})
	return found
}

func TestTheExporterIsConfiguredAsTheVariablesSay(t *testing.T) {
	t.Parallel()
	const (
		endpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"
		traces   = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		url     string // "" when refused
		timeout time.Duration
		gzip    bool
	}{
		{"base endpoint", map[string]string{endpoint: "http://collector:4318"}, "http://collector:4318/v1/traces", 10 * time.Second, false},
		{"base endpoint with a slash", map[string]string{endpoint: "http://collector:4318/"}, "http://collector:4318/v1/traces", 10 * time.Second, false},
		{"base endpoint with a path", map[string]string{endpoint: "https://collector/otlp/"}, "https://collector/otlp/v1/traces", 10 * time.Second, false},
		{"traces endpoint as is", map[string]string{traces: "http://collector:4318/custom"}, "http://collector:4318/custom", 10 * time.Second, false},
		{"traces endpoint without a path", map[string]string{traces: "http://collector:4318"}, "http://collector:4318/", 10 * time.Second, false},
		{"traces endpoint wins", map[string]string{endpoint: "http://a:4318", traces: "http://b:4318/t"}, "http://b:4318/t", 10 * time.Second, false},
		{"timeout", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, "http://c/v1/traces", 2500 * time.Millisecond, false},
		{"traces timeout wins", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "700"}, "http://c/v1/traces", 700 * time.Millisecond, false},
		{"gzip", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, "http://c/v1/traces", 10 * time.Second, true},
		{"traces compression wins", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none"}, "http://c/v1/traces", 10 * time.Second, false},
		{"http/protobuf", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "http://c/v1/traces", 10 * time.Second, false},

		{"no scheme", map[string]string{endpoint: "collector:4318"}, "", 0, false},
		{"another scheme", map[string]string{traces: "ftp://collector/"}, "", 0, false},
		{"grpc", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "", 0, false},
		{"traces grpc", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "", 0, false},
		{"http/json", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "", 0, false},
		{"timeout with a unit", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "", 0, false},
		{"timeout zero", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_TIMEOUT": "0"}, "", 0, false},
		{"zstd", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "", 0, false},
		{"header without a value", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "api-key"}, "", 0, false},
		{"header name with a space", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "api key=1"}, "", 0, false},
		{"header value badly escaped", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=%zz"}, "", 0, false},
		{"header value with a newline", map[string]string{endpoint: "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%0Ab"}, "", 0, false},
		{"missing CA file", map[string]string{endpoint: "https://c", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, "", 0, false},
		{"client certificate without its key", map[string]string{endpoint: "https://c", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/nonexistent/c.pem"}, "", 0, false},
	} {
		cfg, err := otlpConfigFromEnv(func(k string) string { return tc.env[k] })
		switch {
		case tc.url == "" && err == nil:
			t.Errorf("%s: %v accepted, want refused", tc.name, tc.env)
		case tc.url == "":
			if strings.Contains(err.Error(), "%") || !strings.HasPrefix(err.Error(), "tracing: ") {
				t.Errorf("%s: error %q", tc.name, err)
			}
		case err != nil:
			t.Errorf("%s: %v refused: %v", tc.name, tc.env, err)
		case cfg.url.String() != tc.url || cfg.timeout != tc.timeout || cfg.gzip != tc.gzip:
			t.Errorf("%s: %v gives URL %s, timeout %v, gzip %v; want %s, %v, %v",
				tc.name, tc.env, cfg.url, cfg.timeout, cfg.gzip, tc.url, tc.timeout, tc.gzip)
		}
	}
}

func TestTheExporterSendsTheHeadersOfTheVariables(t *testing.T) {
	t.Parallel()
	srv := newOTLPServer(t, false, nil)
	exp := testExporter(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":       srv.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":        "x-general=1",                                                         // replaced by the traces' own
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=s%C3%A9cret%2C%3D , x-tenant = shop,content-type=text/plain", // the exporter's own wins
	})
	spans, _ := exampleSpans()
	if err := exp.ExportSpans(t.Context(), spans); err != nil {
		t.Fatal(err)
	}
	h := srv.requests()[0].header
	for k, want := range map[string]string{
		"Api-Key": "sécret,=", "X-Tenant": "shop", "X-General": "",
		"Content-Type": "application/x-protobuf", "User-Agent": "streamcart/test (OTLP trace exporter)",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

func TestAnExportEndsAtTheTimeoutOfTheVariables(t *testing.T) {
	t.Parallel()
	srv := newOTLPServer(t, false, hang(t))
	exp := testExporter(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":       srv.URL,
		"OTEL_EXPORTER_OTLP_TIMEOUT":        "60000",
		"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "300",
	})
	spans, _ := exampleSpans()
	start := time.Now()
	err := exp.ExportSpans(t.Context(), spans)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || took < 300*time.Millisecond || took > 10*time.Second {
		t.Errorf("export to a collector that does not answer: %v after %v; want the deadline after 300 ms", err, took)
	}
}

func TestTheExporterRetriesWhatMayBeRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		timeout    string
		answer     func(n int, w http.ResponseWriter, r *http.Request)
		posts      int
		ok         bool
		atLeast    time.Duration
		atMost     time.Duration
		errMessage string
	}{
		{
			name: "503 with Retry-After, then 200", timeout: "10000",
			answer: func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", "2")
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			},
			posts: 2, ok: true, atLeast: 2 * time.Second, atMost: 9 * time.Second,
		},
		{
			name: "429, 502, 504 then 200", timeout: "10000",
			answer: func(n int, w http.ResponseWriter, _ *http.Request) {
				if code := map[int]int{1: 429, 2: 502, 3: 504}[n]; code != 0 {
					w.WriteHeader(code)
				}
			},
			posts: 4, ok: true, atLeast: 150 * time.Millisecond, atMost: 9 * time.Second, // 25+50+100 ms at least
		},
		{
			name: "400 is not retried", timeout: "10000",
			answer: func(_ int, w http.ResponseWriter, _ *http.Request) {
				// A google.rpc.Status whose message (field 2) says why.
				w.Header().Set("Content-Type", "application/x-protobuf")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write(protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "bad span"))
			},
			posts: 1, atMost: 5 * time.Second, errMessage: "400 Bad Request: bad span",
		},
		{
			name: "a Retry-After past the timeout ends the attempts", timeout: "5000",
			answer: func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "60")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			posts: 1, atMost: 4 * time.Second, errMessage: "429 Too Many Requests",
		},
		{
			name: "a partial success is not sent again", timeout: "10000",
			answer: func(_ int, w http.ResponseWriter, _ *http.Request) {
				// ExportTraceServiceResponse{partial_success: {rejected_spans: 3, error_message: "too old"}}
				ps := protowire.AppendTag(nil, 1, protowire.VarintType)
				ps = protowire.AppendVarint(ps, 3)
				ps = protowire.AppendTag(ps, 2, protowire.BytesType)
				ps = protowire.AppendString(ps, "too old")
				w.Header().Set("Content-Type", "application/x-protobuf")
				_, _ = w.Write(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), ps))
			},
			posts: 1, atMost: 5 * time.Second, errMessage: "rejected 3 spans: too old",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newOTLPServer(t, false, tc.answer)
			exp := testExporter(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_TIMEOUT": tc.timeout})
			exp.retry = 50 * time.Millisecond // a Retry-After of seconds is then what the wait shows
			spans, _ := exampleSpans()
			start := time.Now()
			err := exp.ExportSpans(t.Context(), spans)
			took := time.Since(start)
			reqs := srv.requests()
			if (err == nil) != tc.ok || len(reqs) != tc.posts || took < tc.atLeast || took > tc.atMost {
				t.Errorf("export: %v after %d posts in %v; want ok %v after %d posts in %v to %v",
					err, len(reqs), took, tc.ok, tc.posts, tc.atLeast, tc.atMost)
			}
			if err != nil && !strings.Contains(err.Error(), tc.errMessage) {
				t.Errorf("error %q, want it to say %q", err, tc.errMessage)
			}
			for i, r := range reqs {
				if !bytes.Equal(r.body, reqs[0].body) {
					t.Errorf("post %d sent another body than the first", i+1)
				}
			}
		})
	}
}

func TestTheExporterTrustsTheCAOfTheVariables(t *testing.T) {
	t.Parallel()
	srv := newOTLPServer(t, true, nil)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	spans, _ := exampleSpans()

	// Without the CA the certificate is refused, at once: trying again
	// would not help.
	exp := testExporter(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL})
	start := time.Now()
	if err := exp.ExportSpans(t.Context(), spans); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("export to a collector whose certificate is not trusted: %v after %v; want an error at once", err, time.Since(start))
	}
	exp = testExporter(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": ca})
	if err := exp.ExportSpans(t.Context(), spans); err != nil {
		t.Errorf("export with the collector's CA: %v", err)
	}
	if got := len(srv.requests()); got != 1 {
		t.Errorf("the collector got %d requests, want the one with its CA", got)
	}
}

func TestShutdownEndsTheExportInFlightAndRefusesTheNext(t *testing.T) {
	t.Parallel()
	srv := newOTLPServer(t, false, hang(t))
	exp := testExporter(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_TIMEOUT": "60000"})
	spans, _ := exampleSpans()
	done := make(chan error, 1)
	go func() { done <- exp.ExportSpans(context.Background(), spans) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling for the request to arrive
	}
	if err := exp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("the export in flight succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the export in flight went on after Shutdown")
	}
	if err := exp.ExportSpans(t.Context(), spans); !errors.Is(err, errExporterStopped) {
		t.Errorf("export after Shutdown: %v, want %v", err, errExporterStopped)
	}
	if got := len(srv.requests()); got != 1 {
		t.Errorf("the collector got %d requests, want 1", got)
	}
}
