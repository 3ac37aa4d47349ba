package tracing_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/platform/tracing"
)

// FuzzParent checks that Parent reads any string as OpenTelemetry's W3C
// propagator does: a header or an entry field is whatever a caller sent.
func FuzzParent(f *testing.F) {
	for _, s := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-more",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := trace.SpanContextFromContext(w3c.Extract(context.Background(), propagation.MapCarrier{"traceparent": s}))
		if got := tracing.Parent(s); !got.Equal(want) {
			t.Errorf("Parent(%q) = %v, the propagator reads %v", s, got, want)
		}
	})
}
