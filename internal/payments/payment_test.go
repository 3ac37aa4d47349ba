package payments

import (
	"testing"

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

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "zero value", cfg: Config{}},
		{name: "custom streams", cfg: Config{OrdersStream: "o", PaymentsStream: "p", FailAbove: 1}},
		{name: "consumer stream is the orders stream", cfg: Config{OrdersStream: "o", Consumer: stream.Config{Stream: "o"}}},
		{name: "consumer stream differs", cfg: Config{OrdersStream: "o", Consumer: stream.Config{Stream: "x"}}, wantErr: true},
		{name: "consumer stream differs from the default", cfg: Config{Consumer: stream.Config{Stream: "x"}}, wantErr: true},
		{name: "same stream for both", cfg: Config{OrdersStream: "s", PaymentsStream: "s"}, wantErr: true},
		{name: "negative limit", cfg: Config{FailAbove: -1}, wantErr: true},
		{name: "bad consumer config", cfg: Config{Consumer: stream.Config{Count: -1}}, wantErr: true},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: Validate() = %v, want error: %t", tt.name, err, tt.wantErr)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.setDefaults(nil)
	if cfg.FailAbove != 100_000 || cfg.OrdersStream != events.OrdersStream || cfg.PaymentsStream != events.PaymentsStream ||
		cfg.Consumer.Stream != events.OrdersStream || cfg.Consumer.Group != "payments" {
		t.Errorf("defaults = FailAbove %d, OrdersStream %q, PaymentsStream %q, Consumer %q/%q; want 100000, %q, %q, %q/payments",
			cfg.FailAbove, cfg.OrdersStream, cfg.PaymentsStream, cfg.Consumer.Stream, cfg.Consumer.Group,
			events.OrdersStream, events.PaymentsStream, events.OrdersStream)
	}
}
