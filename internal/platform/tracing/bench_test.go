package tracing_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/platform/tracing"
)

// BenchmarkSpanExportedWithOTLP is what one span costs with tracing on, as
// streamcart records them: started and ended with eight attributes,
// batched, encoded to OTLP and sent over HTTP to a collector on loopback
// that accepts everything. cpu-ns/span is the process's CPU time, the
// exporter's goroutine included, divided by the spans; the queue is large
// enough that none is dropped.
func BenchmarkSpanExportedWithOTLP(b *testing.B) {
	c := newCollector(b)
	b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.URL)
	b.Setenv("OTEL_TRACES_SAMPLER", "always_on") // every span is exported
	b.Setenv("OTEL_BSP_MAX_QUEUE_SIZE", "1000000")
	ctx := context.Background()
	tr, err := tracing.FromEnv(ctx, "bench")
	if err != nil || tr == nil {
		b.Fatalf("FromEnv = %v, %v", tr, err)
	}
	tracer := tr.Provider("bench").Tracer("bench")
	attrs := trace.WithAttributes(
		attribute.String("messaging.system", "redis_streams"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", "ORDERS_STREAM"),
		attribute.String("messaging.consumer.group.name", "payments"),
		attribute.String("messaging.message.id", "1732570000000-0"),
		attribute.String("streamcart.event.id", "0191d1c2-7e5b-7a3c-9f00-5e4d8fc76ee2"),
		attribute.String("streamcart.event.type", "OrderPlaced"),
		attribute.Int64("streamcart.deliveries", 1),
	)
	before := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_, span := tracer.Start(ctx, "process ORDERS_STREAM", trace.WithSpanKind(trace.SpanKindConsumer), attrs)
		span.End()
	}
	if err := tr.Shutdown(ctx); err != nil { // the export of the last batch counts too
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/span")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
