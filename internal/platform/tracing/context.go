package tracing

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// propagator is the W3C trace context: the traceparent (and tracestate)
// header.
var propagator = propagation.TraceContext{}

// traceParentKey is the header, and the stream envelope's field, that
// carries a span context.
const traceParentKey = "traceparent"

// parentCarrier carries a traceparent alone, without a map.
type parentCarrier struct{ value string }

func (c *parentCarrier) Get(key string) string {
	if key == traceParentKey {
		return c.value
	}
	return ""
}

func (c *parentCarrier) Set(key, value string) {
	if key == traceParentKey {
		c.value = value
	}
}

func (c *parentCarrier) Keys() []string { return []string{traceParentKey} }

// TraceParent returns the W3C traceparent of the span in ctx, e.g.
// "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", or "" when
// ctx holds no valid span context.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	var c parentCarrier
	propagator.Inject(ctx, &c)
	return c.value
}

// Parent returns the span context that the W3C traceparent s names, as a
// remote one; it is not valid when s is empty or malformed.
func Parent(s string) trace.SpanContext {
	if s == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(propagator.Extract(context.Background(), &parentCarrier{s}))
}

// Unsampled reports whether sc is a valid span context of a trace that is
// not kept. Every seam starts no span under it, as a parent-based sampler
// would record nothing there anyway, and passes it on as it is, so that
// the services and streams after it follow the same decision at almost no
// cost: with the default of one trace in ten kept, that is most of them.
func Unsampled(sc trace.SpanContext) bool { return sc.IsValid() && !sc.IsSampled() }

// headerParent returns the span context of h's traceparent header, as a
// remote one (not valid when there is none). A tracestate is not read:
// the services neither use nor pass one on.
func headerParent(h map[string][]string) trace.SpanContext {
	if v := h["Traceparent"]; len(v) > 0 {
		return Parent(v[0])
	}
	return trace.SpanContext{}
}
