package tracing

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/platform/web"
)

// httpScope is the instrumentation scope of the HTTP spans.
const httpScope = "streamcart/http"

// Callers says whether a server continues the traces of its callers.
type Callers int

const (
	// Trusted callers are streamcart's own services: a request's
	// traceparent header is its span's parent.
	Trusted Callers = iota
	// Public callers are anyone on the internet (the gateway): each
	// request starts a trace of its own, linked to the trace its
	// traceparent header names, if any, so that a client can neither
	// choose nor join a trace.
	Public
)

// Server returns h with a span (SpanKindServer) from tp around each
// request, named after its method until Routed, inside h, names its route
// (e.g. "POST /orders"), and ending in an error status on a 5xx answer.
// The span is in the request's context. With a disabled tp (Enabled) it
// returns h itself.
func Server(tp trace.TracerProvider, callers Callers, h http.Handler) http.Handler {
	if !Enabled(tp) {
		return h
	}
	tracer := tp.Tracer(httpScope)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		opts := []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPathKey.String(r.URL.Path)),
		}
		remote := trace.SpanContextFromContext(propagator.Extract(ctx, propagation.HeaderCarrier(r.Header)))
		switch {
		case !remote.IsValid():
		case callers == Public:
			opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: remote}))
		default:
			ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
		}
		ctx, span := tracer.Start(ctx, r.Method, opts...)
		defer span.End()
		rec := &web.StatusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r.WithContext(ctx))
		status := rec.Status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		span.SetAttributes(semconv.HTTPResponseStatusCodeKey.Int(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// Routed returns mux (a http.ServeMux) renaming the span of Server after
// the pattern that mux matched, "METHOD /path/{pattern}": span names and
// the http.route attribute stay few, whatever the paths requested. It
// costs one context lookup when the request has no span recording.
func Routed(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		// ServeMux sets r.Pattern on the request it was given.
		if r.Pattern == "" {
			return
		}
		span := trace.SpanFromContext(r.Context())
		if !span.IsRecording() {
			return
		}
		route := r.Pattern
		if _, path, ok := strings.Cut(route, " "); ok {
			route = path
		}
		span.SetName(r.Method + " " + route)
		span.SetAttributes(semconv.HTTPRouteKey.String(route))
	})
}

// Transport returns base (http.DefaultTransport when nil) with a span
// (SpanKindClient) around each request whose context holds a span
// context, and the request's traceparent header set to it, so that the
// service called continues the trace. The span comes from the provider
// of the span in the request's context, and covers the wait for the
// response's headers, not the reading of its body. A request without a
// span in its context (tracing off) goes to base untouched.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return transport{base}
}

type transport struct{ base http.RoundTripper }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	parent := trace.SpanFromContext(r.Context())
	if !parent.SpanContext().IsValid() {
		return t.base.RoundTrip(r)
	}
	ctx, span := parent.TracerProvider().Tracer(httpScope).Start(r.Context(), r.Method,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(r.Method),
			semconv.ServerAddressKey.String(r.URL.Host),
			semconv.URLPathKey.String(r.URL.Path),
		))
	defer span.End()
	// A RoundTripper must not change the request it is given.
	r = r.Clone(ctx)
	r.Header.Del("Tracestate") // the span's own, if any, is set below
	propagator.Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "request failed")
		return nil, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCodeKey.Int(resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	return resp, nil
}
