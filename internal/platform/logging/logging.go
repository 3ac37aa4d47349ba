// Package logging builds the slog loggers of streamcart's commands: text
// for a person at a terminal, JSON for a log pipeline.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// New returns a logger writing to w in format "text" or "json" at level
// ("debug", "info", "warn" or "error"), with the attribute service set
// when service is not empty. The root logger given to app.Start has none:
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
	log := slog.New(h)
	if service != "" {
		log = log.With("service", service)
	}
	return log, nil
}
