package payments

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
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
	tests := []testenv.ConfigCase[Config]{
		{Name: "zero value", Config: withOrderCheck(Config{})},
		{Name: "custom streams", Config: withOrderCheck(Config{OrdersStream: "o", PaymentsStream: "p", FailAbove: 1})},
		{Name: "no order key", Config: Config{Orders: &ordercheck.Known{}}, WantField: "OrderKey"},
		{Name: "no orders", Config: Config{OrderKey: servicetest.OrderKey()}, WantField: "Orders"},
		{Name: "consumer stream is the orders stream", Config: withOrderCheck(Config{OrdersStream: "o", ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{Stream: "o"}}})},
		{Name: "consumer stream differs", Config: withOrderCheck(Config{OrdersStream: "o", ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{Stream: "x"}}}), WantField: "Consumer.Stream"},
		{Name: "consumer stream differs from the default", Config: withOrderCheck(Config{ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{Stream: "x"}}}), WantField: "Consumer.Stream"},
		{Name: "same stream for both", Config: withOrderCheck(Config{OrdersStream: "s", PaymentsStream: "s"}), WantField: "PaymentsStream"},
		{Name: "negative limit", Config: withOrderCheck(Config{FailAbove: -1}), WantField: "FailAbove"},
		{Name: "negative stream age", Config: withOrderCheck(Config{ServiceConfig: outbox.ServiceConfig{StreamMaxAge: -time.Hour}}), WantField: "StreamMaxAge"},
		{Name: "bad consumer config", Config: withOrderCheck(Config{ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{Count: -1}}}), WantField: "Consumer"},
	}
	testenv.CheckConfigs(t, tests, Config.Validate, func(cfg Config) error {
		_, err := NewService(nil, nil, cfg, slog.New(slog.DiscardHandler))
		return err
	})
}

// withOrderCheck returns c with what every Config needs to check the
// OrderPlaced events it consumes: the OrderKey and the Orders lookup.
func withOrderCheck(c Config) Config {
	c.OrderKey, c.Orders = servicetest.OrderKey(), &ordercheck.Known{}
	return c
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
