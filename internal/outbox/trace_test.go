package outbox_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/outbox"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/stream"
)

func TestAnEventIsPublishedInTheTraceThatWroteIt(t *testing.T) {
	t.Parallel()
	pool, rdb := setup(t)
	name := testenv.Name(t, "s")
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.New(exp)
	ob := outbox.New(pool, rdb, stream.NewPublisher(rdb, nil), "svc", outbox.Config{TracerProvider: tr.Provider("svc")}, testenv.Logger(t))

	ctx, request := tr.Provider("svc").Tracer("test").Start(context.Background(), "request")
	chosen := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	msgs := []*outbox.Message{
		{Stream: name, Event: stream.Event{Type: "Tested"}},
		{Stream: name, Event: stream.Event{Type: "Tested", TraceParent: chosen}}, // its writer chose its trace
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return ob.Add(ctx, tx, msgs...) }); err != nil {
		t.Fatal(err)
	}
	request.End()
	if n, err := ob.RelayOnce(context.Background()); err != nil || n != 2 {
		t.Fatalf("RelayOnce = %d, %v; want 2", n, err)
	}

	spans := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		spans[s.Name] = append(spans[s.Name], s)
	}
	insert, publish := spans["outbox insert"], spans["publish "+name]
	if len(insert) != 1 || insert[0].Parent.SpanID() != request.SpanContext().SpanID() {
		t.Fatalf("outbox insert spans %v, want one, the request's child", insert)
	}
	if len(publish) != 2 {
		t.Fatalf("publish spans %v, want one per event", publish)
	}
	if publish[0].Parent.SpanID() != insert[0].SpanContext.SpanID() || publish[0].SpanContext.TraceID() != request.SpanContext().TraceID() {
		t.Errorf("the first event's publish: parent %v, want the insert %v", publish[0].Parent, insert[0].SpanContext)
	}
	if want := tracing.Parent(chosen); publish[1].Parent.SpanID() != want.SpanID() || publish[1].SpanContext.TraceID() != want.TraceID() {
		t.Errorf("the second event's publish: parent %v, want the one its writer chose %v", publish[1].Parent, want)
	}
	// The entries carry their publish spans: consumers continue from there.
	entries := testenv.Entries(t, rdb, name, stream.Decode)
	for i, m := range entries {
		if got := tracing.Parent(m.TraceParent); got.SpanID() != publish[i].SpanContext.SpanID() {
			t.Errorf("entry %d: traceparent %q, want its publish span %v", i, m.TraceParent, publish[i].SpanContext.SpanID())
		}
	}
}

func TestAnEventOfATraceNotKeptIsWrittenAndPublishedWithoutSpans(t *testing.T) {
	t.Parallel()
	pool, rdb := setup(t)
	name := testenv.Name(t, "s")
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.New(exp) // keeps every span it is asked for: only the seams can skip them
	ob := outbox.New(pool, rdb, stream.NewPublisher(rdb, nil), "svc", outbox.Config{TracerProvider: tr.Provider("svc")}, testenv.Logger(t))

	notKept := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), tracing.Parent(notKept))
	msg := &outbox.Message{Stream: name, Event: stream.Event{Type: "Tested"}}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return ob.Add(ctx, tx, msg) }); err != nil {
		t.Fatal(err)
	}
	if n, err := ob.RelayOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("RelayOnce = %d, %v; want 1", n, err)
	}
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Errorf("%d spans recorded in a trace not kept, want none: %v", len(spans), spans)
	}
	// The entry carries the decision, for its consumers to follow.
	for _, m := range testenv.Entries(t, rdb, name, stream.Decode) {
		if m.TraceParent != notKept {
			t.Errorf("entry traceparent %q, want %q", m.TraceParent, notKept)
		}
	}
}
