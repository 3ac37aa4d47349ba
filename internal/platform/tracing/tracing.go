// Package tracing records OpenTelemetry traces of streamcart's services,
// so that one order, from its POST to its final status, is one trace
// across the gateway, orders, payments and back.
//
// A Tracing gives each service of a process its own TracerProvider, whose
// resource names the service (service.name), so that "streamcart dev",
// with every service in one process, shows them apart as separate
// processes would. FromEnv makes one that exports with OTLP over HTTP when
// the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variable is set, and none otherwise:
// a nil *Tracing is valid and gives no-op providers, and everything here
// that is handed a no-op provider adds nothing to the path it wraps.
//
// The seams, each written once:
//
//   - Server: a span per HTTP request served (SpanKindServer), named after
//     the route pattern (web.NoteRoute), continuing the caller's W3C
//     traceparent header;
//   - Transport: a span per HTTP request sent (SpanKindClient) that
//     carries the traceparent header to the service called;
//   - TraceParent and WithTraceParent: the same W3C traceparent written
//     into a stream entry's envelope and read back by its consumer
//     (package stream, package outbox).
//
// Only the traceparent travels; tracestate is dropped.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Namespace is every service's service.namespace.
const Namespace = "streamcart"

// DefaultSampleRatio is the share of traces kept when OTEL_TRACES_SAMPLER
// is not set: one in ten, decided at the trace's root and followed by
// every span under it, so that a kept order is kept whole. OpenTelemetry's
// own default keeps every trace, which costs about 12% of the services'
// CPU per order (docs/performance.md#keeping-every-trace);
// OTEL_TRACES_SAMPLER=parentbased_always_on asks for that.
const DefaultSampleRatio = 0.1

// Tracing hands out a TracerProvider per service, all exporting to one
// exporter. A nil *Tracing is tracing turned off: its providers are
// no-ops. It is safe for concurrent use.
type Tracing struct {
	exporter sdktrace.SpanExporter
	sync     bool // export each span as it ends (tests), not in batches
	version  string
	// sampler decides which traces are kept; nil: the SDK's, from
	// OTEL_TRACES_SAMPLER.
	sampler sdktrace.Sampler

	mu        sync.Mutex
	providers map[string]*sdktrace.TracerProvider
}

// FromEnv returns the Tracing that the standard OpenTelemetry environment
// variables ask for, and nil, with no exporter made, when they ask for
// none: when neither OTEL_EXPORTER_OTLP_ENDPOINT nor
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, or OTEL_SDK_DISABLED is
// "true", or OTEL_TRACES_EXPORTER is "none". Its exporter, our own
// (otlp.go), is OTLP over HTTP with protobuf, configured by the other
// OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression, TLS);
// its sampler by OTEL_TRACES_SAMPLER (default, unlike OpenTelemetry's:
// parent-based, keeping DefaultSampleRatio of the traces);
// its batches by OTEL_BSP_*. OTEL_RESOURCE_ATTRIBUTES adds to every
// service's resource, but service.name is always the service's. version
// is service.version, and in the exporter's User-Agent.
// A value that the exporter cannot honour (a protocol other than
// http/protobuf, a timeout that is not milliseconds, a malformed header or
// endpoint …), or an exporter other than otlp, is an error rather than
// traces silently lost. Nothing is sent; ctx is not used.
func FromEnv(ctx context.Context, version string) (*Tracing, error) {
	if !Configured(os.Getenv) {
		return nil, nil
	}
	if e := os.Getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" {
		return nil, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER %q is not supported; use otlp (or none)", e)
	}
	cfg, err := otlpConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	t := &Tracing{exporter: newOTLPExporter(cfg, version), version: version}
	if os.Getenv("OTEL_TRACES_SAMPLER") == "" {
		t.sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(DefaultSampleRatio))
	}
	return t, nil
}

// Configured reports whether the environment that getenv reads asks for
// traces to be exported (see FromEnv).
func Configured(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// New returns a Tracing whose services' spans all go to exp, each as it
// ends (no batching), with every span sampled: for tests, with the SDK's
// tracetest.InMemoryExporter.
func New(exp sdktrace.SpanExporter) *Tracing {
	return &Tracing{exporter: exp, sync: true, version: "test"}
}

// Provider returns the TracerProvider of service, the same one on every
// call: its spans have the resource service.name = service. On a nil
// Tracing it returns a no-op provider.
func (t *Tracing) Provider(service string) trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tp := t.providers[service]; tp != nil {
		return tp
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service),
		semconv.ServiceNamespace(Namespace),
		semconv.ServiceVersion(t.version),
	))
	if err != nil { // only a conflict of schema URLs, and ours has none
		res = resource.NewSchemaless(semconv.ServiceName(service))
	}
	exp := sharedExporter{t.exporter}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if t.sync {
		opts = append(opts, sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	} else {
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	if t.sampler != nil {
		opts = append(opts, sdktrace.WithSampler(t.sampler))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	if t.providers == nil {
		t.providers = map[string]*sdktrace.TracerProvider{}
	}
	t.providers[service] = tp
	return tp
}

// Shutdown exports the spans still buffered, within ctx, and stops the
// exporter. Spans that end after it are dropped. A nil Tracing has
// nothing to do.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, tp := range t.providers {
		errs = append(errs, tp.Shutdown(ctx))
	}
	errs = append(errs, t.exporter.Shutdown(ctx))
	return errors.Join(errs...)
}

// sharedExporter is the exporter of several providers: each provider
// shuts down its own processor, and Tracing.Shutdown the exporter, once
// they all have flushed.
type sharedExporter struct{ sdktrace.SpanExporter }

func (sharedExporter) Shutdown(context.Context) error { return nil }

// Enabled reports whether tp records spans, that is whether
// instrumentation handed tp should do anything at all: it is false for
// nil and for the no-op provider of a nil Tracing. Instrumentation given
// a disabled provider adds nothing to the path it wraps.
func Enabled(tp trace.TracerProvider) bool {
	if tp == nil {
		return false
	}
	_, isNoop := tp.(noop.TracerProvider)
	return !isNoop
}
