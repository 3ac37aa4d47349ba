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
