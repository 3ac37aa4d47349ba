package logging_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/platform/logging"
)

func TestARecordInASpanNamesItsTrace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := logging.New(&buf, "text", "info", "orders")
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 1}, SpanID: trace.SpanID{0xf0, 2}, TraceFlags: trace.FlagsSampled,
	})
	log.With("k", "v").InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "in a span")
	log.InfoContext(context.Background(), "outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := "trace_id=" + sc.TraceID().String() + " span_id=" + sc.SpanID().String()
	if len(lines) != 2 || !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "service=orders k=v") {
		t.Errorf("in a span: %q, want %q, the service and the attribute", lines[0], want)
	}
	if len(lines) == 2 && strings.Contains(lines[1], "trace_id") {
		t.Errorf("outside a span: %q has a trace id", lines[1])
	}
}
