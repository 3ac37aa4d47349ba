// Package logging builds the slog loggers of streamcart's commands: text
// for a person at a terminal, JSON for a log pipeline.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// New returns a logger writing to w in format "text" or "json" at level
// ("debug", "info", "warn" or "error"), with the attribute service set
// when service is not empty. A record logged with a context that holds a
// span (tracing on) gets its trace_id and span_id, so that a log line
// leads to its trace. The root logger given to app.Start has none:
// app adds each service's own, and slog would repeat the key otherwise.
func New(w io.Writer, format, level, service string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	log := slog.New(traceHandler{h})
	if service != "" {
		log = log.With("service", service)
	}
	return log, nil
}

// traceHandler adds the trace_id and span_id of the span in a record's
// context.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
