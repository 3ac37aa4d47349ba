package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"streamcart/internal/platform/config"
	"streamcart/internal/platform/tracing"
)

// startTracing returns the tracing that the standard OpenTelemetry
// variables ask for (nil, with no exporter made, when they ask for none;
// see tracing.FromEnv), says which in log, and returns the function that
// exports the spans still buffered at exit.
func startTracing(ctx context.Context, log *slog.Logger) (*tracing.Tracing, func(), error) {
	t, err := tracing.FromEnv(ctx, version())
	if err != nil {
		return nil, nil, err
	}
	if t == nil {
		log.Info("tracing off: set OTEL_EXPORTER_OTLP_ENDPOINT to export traces")
		return nil, func() {}, nil
	}
	endpoint := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	log.Info("tracing on: exporting with OTLP over HTTP", "endpoint", config.MaskPasswords(endpoint))
	return t, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := t.Shutdown(ctx); err != nil {
			log.Warn("exporting the last spans failed", "err", err)
		}
	}, nil
}
