package stream

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"streamcart/internal/platform/tracing"
)

// traceScope is the instrumentation scope of the stream spans.
const traceScope = "streamcart/stream"

// messagingSystem is the messaging.system of every stream span.
var messagingSystem = semconv.MessagingSystemKey.String("redis_streams")

// traceHandling starts the spans of handing msgs to a handler: one per
// message (SpanKindConsumer, "process STREAM"), a child of the
// traceparent in its envelope, so that an event's handling joins the trace
// of what caused it. It returns the context for the handler, the messages
// to give it, each with its traceparent replaced by its own span's, so
// that the events a handler answers with (events.Answer) continue from
// there, and the function that ends the spans with the handler's error.
//
// A batch of several messages, which may belong to as many traces, gets a
// span of its own besides ("process STREAM batch"), linked to each
// message's span and they to it; the handler's context holds it, so that
// the work the handler does for the whole batch (one transaction) is one
// span. A single message's handler gets the message's span itself.
// A message in a trace not kept (tracing.Unsampled) gets no span, and a
// batch of only such messages no batch span.
// It must be called only with tracing on (c.tracer set).
func (c *Consumer) traceHandling(ctx context.Context, msgs []Message) (context.Context, []Message, func(error)) {
	traced := make([]Message, len(msgs))
	spans := make([]trace.Span, 0, len(msgs)+1)
	links := make([]trace.Link, 0, len(msgs))
	var unsampled trace.SpanContext // of the first message in a trace not kept
	for i, m := range msgs {
		sc := tracing.Parent(m.TraceParent)
		if tracing.Unsampled(sc) {
			// No span; the message keeps its traceparent, which tells
			// what it causes that its trace is not kept either.
			traced[i] = m
			if !unsampled.IsValid() {
				unsampled = sc
			}
			continue
		}
		parent := trace.ContextWithRemoteSpanContext(ctx, sc)
		mctx, span := c.tracer.Start(parent, "process "+c.cfg.Stream,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(c.spanAttrs...),
			trace.WithAttributes(
				semconv.MessagingMessageIDKey.String(m.EntryID),
				attribute.String("streamcart.event.id", m.ID),
				attribute.String("streamcart.event.type", m.Type),
				attribute.Int64("streamcart.deliveries", m.Deliveries),
			))
		m.TraceParent = tracing.TraceParent(mctx)
		traced[i] = m
		spans = append(spans, span)
		links = append(links, trace.Link{SpanContext: span.SpanContext()})
		if len(msgs) == 1 {
			ctx = mctx
		}
	}
	switch {
	case len(spans) == 0:
		// Nothing recorded: the handler's own work follows the decision.
		ctx = trace.ContextWithRemoteSpanContext(ctx, unsampled)
	case len(msgs) > 1:
		var batch trace.Span
		ctx, batch = c.tracer.Start(ctx, "process "+c.cfg.Stream+" batch",
			trace.WithNewRoot(),
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithLinks(links...),
			trace.WithAttributes(c.spanAttrs...),
			trace.WithAttributes(semconv.MessagingBatchMessageCountKey.Int(len(msgs))))
		for _, s := range spans {
			s.AddLink(trace.Link{SpanContext: batch.SpanContext()})
		}
		spans = append(spans, batch)
	}
	return ctx, traced, func(err error) {
		for _, s := range spans {
			if err != nil {
				s.RecordError(err)
				s.SetStatus(codes.Error, "handler failed")
			}
			s.End()
		}
	}
}

// consumerSpanAttrs are the attributes of every span of c's handling.
func consumerSpanAttrs(cfg Config) []attribute.KeyValue {
	return []attribute.KeyValue{
		messagingSystem,
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationNameKey.String(cfg.Stream),
		semconv.MessagingConsumerGroupNameKey.String(cfg.Group),
	}
}

// TracePublish starts the span of appending e to stream with tracer
// (SpanKindProducer, "publish STREAM"), a child of the span context in
// ctx, and sets e's TraceParent to it, so that the stream's consumers
// continue the trace from there. It returns the function that ends the
// span with the append's error. e is normalized first (Normalize).
func TracePublish(ctx context.Context, tracer trace.Tracer, stream string, e *Event) func(error) {
	_ = e.Normalize() // an event that cannot be published fails at its append
	ctx, span := tracer.Start(ctx, "publish "+stream,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			messagingSystem,
			semconv.MessagingOperationTypeSend,
			semconv.MessagingDestinationNameKey.String(stream),
			attribute.String("streamcart.event.id", e.ID),
			attribute.String("streamcart.event.type", e.Type),
		))
	e.TraceParent = tracing.TraceParent(ctx)
	return func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish failed")
		}
		span.End()
	}
}

// tracePublish is TracePublish for Publisher.Publish: in the trace of the
// span in ctx, with its provider, unless e has a TraceParent already (its
// caller chose its trace) or ctx holds no span context (tracing is off),
// when it does nothing. In a trace not kept it starts no span and gives e
// the traceparent of ctx.
func tracePublish(ctx context.Context, stream string, e *Event) func(error) {
	parent := trace.SpanFromContext(ctx)
	switch sc := parent.SpanContext(); {
	case e.TraceParent != "" || !sc.IsValid():
		return func(error) {}
	case !sc.IsSampled():
		e.TraceParent = tracing.TraceParent(ctx) // not kept, and its consumers follow
		return func(error) {}
	}
	return TracePublish(ctx, parent.TracerProvider().Tracer(traceScope), stream, e)
}
