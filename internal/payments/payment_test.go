package payments

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/stream"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	const limitReason = "amount exceeds the payment limit of 1000.00"
	tests := []struct {
		amount, failAbove int64
		wantStatus        events.Status
		wantReason        string
	}{
		{amount: 0, failAbove: DefaultFailAbove, wantStatus: events.StatusPaymentSuccess},
		{amount: 3999, failAbove: DefaultFailAbove, wantStatus: events.StatusPaymentSuccess},
		{amount: 100_000, failAbove: DefaultFailAbove, wantStatus: events.StatusPaymentSuccess},
		{amount: 100_001, failAbove: DefaultFailAbove, wantStatus: events.StatusPaymentFail, wantReason: limitReason},
		{amount: 1 << 60, failAbove: DefaultFailAbove, wantStatus: events.StatusPaymentFail, wantReason: limitReason},
		{amount: 51, failAbove: 50, wantStatus: events.StatusPaymentFail, wantReason: "amount exceeds the payment limit of 0.50"},
		{amount: 50, failAbove: 50, wantStatus: events.StatusPaymentSuccess},
	}
	for _, tt := range tests {
		status, reason := decide(tt.amount, tt.failAbove)
		if status != tt.wantStatus || reason != tt.wantReason {
			t.Errorf("decide(%d, %d) = %v, %q; want %v, %q", tt.amount, tt.failAbove, status, reason, tt.wantStatus, tt.wantReason)
		}
	}
}

func TestConfigValidateNamesTheBadField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       Config
		wantField string // "" for a valid config
	}{
		{name: "zero value", cfg: Config{}},
		{name: "custom streams", cfg: Config{OrdersStream: "o", PaymentsStream: "p", FailAbove: 1}},
		{name: "consumer stream is the orders stream", cfg: Config{OrdersStream: "o", Consumer: stream.Config{Stream: "o"}}},
		{name: "consumer stream differs", cfg: Config{OrdersStream: "o", Consumer: stream.Config{Stream: "x"}}, wantField: "Consumer.Stream"},
		{name: "consumer stream differs from the default", cfg: Config{Consumer: stream.Config{Stream: "x"}}, wantField: "Consumer.Stream"},
		{name: "same stream for both", cfg: Config{OrdersStream: "s", PaymentsStream: "s"}, wantField: "PaymentsStream"},
		{name: "negative limit", cfg: Config{FailAbove: -1}, wantField: "FailAbove"},
		{name: "negative stream age", cfg: Config{StreamMaxAge: -time.Hour}, wantField: "StreamMaxAge"},
		{name: "bad consumer config", cfg: Config{Consumer: stream.Config{Count: -1}}, wantField: "Consumer"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.wantField == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.wantField != "" && (err == nil || !strings.Contains(err.Error(), tt.wantField)):
			t.Errorf("%s: Validate() = %v, want an error naming %s", tt.name, err, tt.wantField)
		}
		if tt.wantField == "" {
			continue
		}
		if _, err := NewService(nil, nil, tt.cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), tt.wantField) {
			t.Errorf("%s: NewService error = %v, want one naming %s", tt.name, err, tt.wantField)
		}
	}
}

func TestNewServiceRequiresALogger(t *testing.T) {
	t.Parallel()
	svc, err := NewService(nil, nil, Config{}, nil)
	if err == nil || svc != nil || !strings.Contains(err.Error(), "a logger is required") {
		t.Errorf("NewService with a nil logger = %v, %v; want an error that a logger is required", svc, err)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.setDefaults()
	if cfg.FailAbove != 100_000 || cfg.OrdersStream != events.OrdersStream || cfg.PaymentsStream != events.PaymentsStream ||
		cfg.Consumer.Stream != events.OrdersStream || cfg.Consumer.Group != "payments" {
		t.Errorf("defaults = FailAbove %d, OrdersStream %q, PaymentsStream %q, Consumer %q/%q; want 100000, %q, %q, %q/payments",
			cfg.FailAbove, cfg.OrdersStream, cfg.PaymentsStream, cfg.Consumer.Stream, cfg.Consumer.Group,
			events.OrdersStream, events.PaymentsStream, events.OrdersStream)
	}
}
