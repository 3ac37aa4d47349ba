package stream_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/stream"
)

// traced publishes an event of type typ in a span of its own, which
// Publish continues, and returns that span's context.
func (f *fixture) traced(tr *tracing.Tracing, typ string) trace.SpanContext {
	f.t.Helper()
	ctx, span := tr.Provider("producer").Tracer("test").Start(context.Background(), "request")
	defer span.End()
	if _, err := f.pub.Publish(ctx, f.stream, stream.Event{Type: typ}); err != nil {
		f.t.Fatal(err)
	}
	return span.SpanContext()
}

// byName returns the ended spans of exp named name.
func byName(exp *tracetest.InMemoryExporter, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func TestABatchOfSeveralTracesIsOneSpanLinkedToEachEntrysSpanInItsOwnTrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.New(exp)
	a, b := f.traced(tr, "A"), f.traced(tr, "B")
	publishes := byName(exp, "publish "+f.stream)
	if len(publishes) != 2 || publishes[0].Parent.SpanID() != a.SpanID() || publishes[1].Parent.SpanID() != b.SpanID() {
		t.Fatalf("publish spans %v, want one child of each request", publishes)
	}

	var (
		mu      sync.Mutex
		handled []stream.Message
		inBatch trace.SpanContext
	)
	cfg := f.config()
	cfg.TracerProvider = tr.Provider("consumer")
	c, err := stream.NewBatchConsumer(f.rdb, cfg, func(ctx context.Context, msgs []stream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		handled, inBatch = append(handled, msgs...), trace.SpanContextFromContext(ctx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	testenv.WaitFor(t, 10*time.Second, "the batch handled and its spans ended", func() bool {
		return len(byName(exp, "process "+f.stream+" batch")) == 1 && len(byName(exp, "process "+f.stream)) == 2
	})

	batch := byName(exp, "process "+f.stream+" batch")[0]
	entries := byName(exp, "process "+f.stream)
	mu.Lock()
	defer mu.Unlock()
	if !inBatch.Equal(batch.SpanContext) || batch.Parent.IsValid() {
		t.Errorf("the handler's span %v, want the batch's %v, a root", inBatch, batch.SpanContext)
	}
	for i, e := range entries {
		pub := publishes[i]
		if e.Parent.SpanID() != pub.SpanContext.SpanID() || e.SpanContext.TraceID() != pub.SpanContext.TraceID() {
			t.Errorf("entry %d: parent %v, want the publish span %v", i, e.Parent, pub.SpanContext)
		}
		if len(e.Links) != 1 || e.Links[0].SpanContext.SpanID() != batch.SpanContext.SpanID() {
			t.Errorf("entry %d: links %v, want the batch span", i, e.Links)
		}
		if e.SpanKind != trace.SpanKindConsumer {
			t.Errorf("entry %d: kind %v", i, e.SpanKind)
		}
		// The handler saw the entry's own span as its traceparent, so that
		// what it answers with continues the entry's trace.
		if got := tracing.Parent(handled[i].TraceParent); got.SpanID() != e.SpanContext.SpanID() {
			t.Errorf("entry %d: handler saw traceparent %q, want its span %v", i, handled[i].TraceParent, e.SpanContext.SpanID())
		}
	}
	if len(batch.Links) != 2 || batch.Links[0].SpanContext.SpanID() != entries[0].SpanContext.SpanID() ||
		batch.Links[1].SpanContext.SpanID() != entries[1].SpanContext.SpanID() {
		t.Errorf("batch links %v, want the two entries' spans", batch.Links)
	}
}

func TestAFailedHandlingIsAnErrorSpanAndItsRetryKeepsTheEntrysParent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.New(exp)
	parent := f.traced(tr, "A")
	publish := byName(exp, "publish "+f.stream)[0]

	var (
		mu    sync.Mutex
		calls int
		inOne trace.SpanContext
	)
	cfg := f.config()
	cfg.TracerProvider = tr.Provider("consumer")
	_, _ = consume(t, f.rdb, cfg, func(ctx context.Context, m stream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		inOne = trace.SpanContextFromContext(ctx)
		if calls == 1 {
			return errors.New("first time fails")
		}
		return nil
	})
	testenv.WaitFor(t, 10*time.Second, "two handlings ended", func() bool { return len(byName(exp, "process "+f.stream)) == 2 })
	spans := byName(exp, "process "+f.stream)
	if spans[0].Status.Code != codes.Error || spans[1].Status.Code == codes.Error {
		t.Errorf("statuses %v, %v; want Error, then not", spans[0].Status, spans[1].Status)
	}
	for i, s := range spans {
		if s.Parent.SpanID() != publish.SpanContext.SpanID() || s.SpanContext.TraceID() != parent.TraceID() {
			t.Errorf("handling %d: parent %v, want the publish span %v", i, s.Parent, publish.SpanContext)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !inOne.Equal(spans[1].SpanContext) {
		t.Errorf("a single entry's handler ran in %v, want its own span %v", inOne, spans[1].SpanContext)
	}
}

func TestWithoutTracingEntriesHaveNoTraceParent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.pub.Publish(context.Background(), f.stream, stream.Event{Type: "A"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range testenv.Entries(t, f.rdb, f.stream, stream.Decode) {
		if m.TraceParent != "" {
			t.Errorf("entry %s has traceparent %q", m.EntryID, m.TraceParent)
		}
	}
}

func TestEntriesOfATraceNotKeptGetNoSpansAndKeepTheirTraceParent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.New(exp) // keeps every span it is asked for: only the seams can skip them

	// Published under a span context whose trace is not kept: the entries
	// carry it as it is.
	const notKept = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), tracing.Parent(notKept))
	for _, typ := range []string{"A", "B"} {
		if _, err := f.pub.Publish(ctx, f.stream, stream.Event{Type: typ}); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu      sync.Mutex
		handled []stream.Message
		inBatch []trace.SpanContext
	)
	cfg := f.config()
	cfg.TracerProvider = tr.Provider("consumer")
	c, err := stream.NewBatchConsumer(f.rdb, cfg, func(ctx context.Context, msgs []stream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, msgs...)
		inBatch = append(inBatch, trace.SpanContextFromContext(ctx))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	testenv.WaitFor(t, 10*time.Second, "both entries handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 2
	})
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Errorf("%d spans recorded for entries of a trace not kept, want none: %v", len(spans), spans)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range handled {
		if m.TraceParent != notKept {
			t.Errorf("handler saw traceparent %q, want the entry's %q", m.TraceParent, notKept)
		}
	}
	for _, sc := range inBatch {
		if sc.TraceID() != tracing.Parent(notKept).TraceID() || sc.IsSampled() {
			t.Errorf("handler's context holds %v, want the trace not kept, so that what it does follows", sc)
		}
	}
}
