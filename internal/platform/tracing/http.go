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
// request, named after its method and the route pattern that served it
// (e.g. "POST /orders"), which web.NoteRoute, around the mux inside h,
// notes (the method alone when no mux routed it), and ending in an error
// status on a 5xx answer: span names stay few, whatever the paths.
// The span is in the request's context. A trusted caller's trace that is
// not kept (Unsampled) gets no span; its span context is in the request's
// context instead, for the seams after it to follow. With a disabled tp
// (Enabled) it returns h itself.
func Server(tp trace.TracerProvider, callers Callers, h http.Handler) http.Handler {
	if !Enabled(tp) {
		return h
	}
	tracer := tp.Tracer(httpScope)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		remote := headerParent(r.Header)
		if callers == Trusted && Unsampled(remote) {
			// A trace not kept: nothing to record, the decision to pass on.
			h.ServeHTTP(w, r.WithContext(trace.ContextWithRemoteSpanContext(ctx, remote)))
			return
		}
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
		switch {
		case !remote.IsValid():
		case callers == Public:
			opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: remote}))
		default:
			ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
		}
		ctx, span := tracer.Start(ctx, r.Method, opts...)
		defer span.End()
		if !span.IsRecording() { // a new trace, not kept
			h.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		span.SetAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPathKey.String(r.URL.Path))
		r, note := web.WithRouteNote(r.WithContext(ctx))
		rec := &web.StatusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if note.Pattern != "" {
			route := note.Pattern
			if _, path, ok := strings.Cut(route, " "); ok {
				route = path
			}
			span.SetName(r.Method + " " + route)
			span.SetAttributes(semconv.HTTPRouteKey.String(route))
		}
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

// Transport returns base (http.DefaultTransport when nil) with a span
// (SpanKindClient) around each request whose context holds a span
// context, and the request's traceparent header set to it, so that the
// service called continues the trace. The span comes from the provider
// of the span in the request's context, and covers the wait for the
// response's headers, not the reading of its body. A request in a trace
// not kept gets no span, only the header; one without a span context in
// its context (tracing off) goes to base untouched.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return transport{base}
}

type transport struct{ base http.RoundTripper }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	parent := trace.SpanFromContext(r.Context())
	switch sc := parent.SpanContext(); {
	case !sc.IsValid():
		return t.base.RoundTrip(r)
	case !sc.IsSampled():
		// A trace not kept: no span, but the service called is told so.
		r = r.Clone(r.Context())
		r.Header.Del("Tracestate")
		r.Header["Traceparent"] = []string{formatParent(sc)}
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
