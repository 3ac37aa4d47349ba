package servicetest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/ordercheck"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// Consumer is what the tests of a service that consumes OrderPlaced give
// the service besides its Config: its database, the shared Redis, and the
// orders that the orders service has, which the service asks about before
// it acts on an order (decision 20). A test adds its own Config and keeps
// both in its env.
type Consumer struct {
	Pool   *pgxpool.Pool
	Redis  redis.UniversalClient
	Orders *ordercheck.Known
}

// NewConsumer migrates pool with migrate, twice, which must be harmless,
// and returns the Consumer of pool, the shared Redis and no orders.
func NewConsumer(tb testing.TB, pool *pgxpool.Pool, migrate func(context.Context, *pgxpool.Pool) error) Consumer {
	tb.Helper()
	testenv.Migrate(tb, pool, migrate)
	return Consumer{Pool: pool, Redis: testenv.Redis(tb), Orders: &ordercheck.Known{}}
}

// Publish appends evs to streamName in one batch and returns their entry
// ids. The orders of the good OrderPlaced events among them (signed by
// OrderKey) are added to Orders first, as the orders service stores an
// order before it publishes it.
func (c Consumer) Publish(tb testing.TB, streamName string, evs ...stream.Event) []string {
	tb.Helper()
	c.Orders.AddPublished(OrderKey(), evs...)
	return Publish(tb, c.Redis, streamName, evs...)
}

// PublishUnstored is Publish without adding any order to Orders.
func (c Consumer) PublishUnstored(tb testing.TB, streamName string, evs ...stream.Event) []string {
	tb.Helper()
	return Publish(tb, c.Redis, streamName, evs...)
}

// Start makes a service of c with newService (a service's NewService),
// cfg and the test's logger, and runs it until the test ends.
func Start[C any, S interface{ Run(context.Context) error }](tb testing.TB, c Consumer, newService func(*pgxpool.Pool, redis.UniversalClient, C, *slog.Logger) (S, error), cfg C) S {
	tb.Helper()
	svc, err := newService(c.Pool, c.Redis, cfg, testenv.Logger(tb))
	if err != nil {
		tb.Fatalf("NewService: %v", err)
	}
	testenv.Run(tb, svc.Run)
	return svc
}

// WantTraceParent checks that every entry of type eventType on streamName
// carries traceParent: the events a service publishes while it handles an
// entry carry that entry's trace.
func WantTraceParent(tb testing.TB, rdb redis.Cmdable, streamName, eventType, traceParent string) {
	tb.Helper()
	entries, err := rdb.XRange(tb.Context(), streamName, "-", "+").Result()
	if err != nil {
		tb.Fatalf("servicetest: read %s: %v", streamName, err)
	}
	for _, xm := range entries {
		if xm.Values[stream.FieldEventType] != eventType {
			continue
		}
		if got := xm.Values[stream.FieldTraceParent]; got != traceParent {
			tb.Errorf("%s %s has traceparent %v, want %s", eventType, xm.ID, got, traceParent)
		}
	}
}
