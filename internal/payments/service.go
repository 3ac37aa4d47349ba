// Package payments is streamcart's payments service. It consumes
// OrderPlaced events from the orders stream, charges each order once and
// announces the outcome with a PaymentProcessed event on the payments
// stream; GET /payments/{orderId} shows the payment.
//
// # Decision rule
//
// The "charge" is deterministic, for a demo shop without a payment
// provider: an order whose amount is above Config.FailAbove cents (default
// 100000, i.e. 1000.00) fails with status events.StatusPaymentFail and the
// reason "amount exceeds the payment limit of 1000.00"; every other order
// succeeds with events.StatusPaymentSuccess and no reason. Each payment
// gets a new UUIDv7 as its id.
//
// # Exactly one payment per order, at least one announcement per event
//
// The consumer handles a whole read of the orders stream in one PostgreSQL
// transaction: it records the batch's event ids in processed_events
// (outbox.Apply) and, for the event ids not seen before, inserts the
// payments with ON CONFLICT (order_id) DO NOTHING and writes one
// PaymentProcessed per such event into the outbox. An event delivered again
// under the same id therefore has no effect at all. An OrderPlaced under a
// new event id for an order that is already paid (the orders service
// re-publishes an order whose outcome it never saw) creates no second
// payment, as the database keeps order_id unique, but announces the
// existing payment again, with its id and status, since the first
// announcement may be what got lost; orders treats repeats as no-ops.
// The outbox relay publishes the events once the transaction committed.
//
// Entries of other types on the orders stream are acknowledged and
// ignored. An OrderPlaced that does not parse is dead-lettered, and the
// rest of its batch is paid without it; so is one whose order the orders
// service does not have, or has with another user or amount than the
// event says: before it pays a batch, the consumer asks orders about all
// of its orders in one call (Config.Orders, package ordercheck). While
// PostgreSQL or the orders service is unreachable a batch is retried,
// first within the consumer's handler timeout, so that a short outage
// does not use up the entries' deliveries.
package payments

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/config"
	"streamcart/internal/stream"
)

// Schema is the PostgreSQL schema the service owns.
const Schema = "payments"

// Group is the service's consumer group on the orders stream.
const Group = "payments"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or updates the payments schema: the payments table and
// the outbox and processed_events tables. It is idempotent and safe to run
// from several replicas at once. NewService does not call it.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return outbox.MigrateService(ctx, pool, Schema, migrations)
}

// Config configures a Service. Zero fields take the defaults their
// comments give.
type Config struct {
	// FailAbove is the payment limit in cents: a larger order's payment
	// fails. Default DefaultFailAbove (100000, i.e. 1000.00).
	FailAbove int64
	// OrdersStream is the stream of OrderPlaced events. Default
	// events.OrdersStream.
	OrdersStream string
	// PaymentsStream receives the PaymentProcessed events. Default
	// events.PaymentsStream.
	PaymentsStream string
	// ServiceConfig holds the consumer of OrdersStream (Consumer, whose
	// Stream must be empty or OrdersStream; Group defaults to Group), the
	// relay of the PaymentProcessed events (Outbox) and the retention of
	// PaymentsStream (StreamMaxAge).
	outbox.ServiceConfig
	// OrderKey checks the signature of each OrderPlaced: an order that
	// the orders service did not sign is dead-lettered, never paid
	// (events.OrderKey). Required.
	OrderKey *events.OrderKey
	// Orders tells which orders the orders service has, with their user
	// and amount (an ordercheck.Client): an OrderPlaced of an order that
	// it does not have as the event says is dead-lettered, never paid.
	// Required.
	Orders ordercheck.Lookup
}

func (c *Config) setDefaults() {
	c.FailAbove = cmp.Or(c.FailAbove, DefaultFailAbove)
	c.OrdersStream = cmp.Or(c.OrdersStream, events.OrdersStream)
	c.PaymentsStream = cmp.Or(c.PaymentsStream, events.PaymentsStream)
	c.DefaultFor(c.OrdersStream, Group)
}

// Validate reports the problems with c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var p config.Problems
	p.If(c.OrderKey == nil, "OrderKey is required")
	p.If(c.Orders == nil, "Orders is required")
	p.If(c.FailAbove < 0, "FailAbove %d must not be negative", c.FailAbove)
	p.If(c.PaymentsStream == c.OrdersStream, "PaymentsStream and OrdersStream are both %q", c.OrdersStream)
	p.Add(c.ValidateFor(c.OrdersStream))
	return p.Err()
}

// Service is the payments service: the consumer of the orders stream, the
// outbox relay to the payments stream and the queries behind the HTTP API.
// Its methods are safe for concurrent use.
type Service struct {
	pool      *pgxpool.Pool
	cfg       Config
	log       *slog.Logger
	outbox    *outbox.Outbox
	consumers stream.Consumers
}

// NewService returns a Service over pool, whose payments schema must be
// migrated (Migrate), and rdb. It does no I/O; Run starts the work.
func NewService(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg Config, log *slog.Logger) (*Service, error) {
	if err := config.CheckService("payments", log, cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Service{
		pool:   pool,
		cfg:    cfg,
		log:    log,
		outbox: cfg.NewOutbox(pool, rdb, Schema, cfg.PaymentsStream, events.PartitionKey, log),
	}
	var err error
	if s.consumers, err = stream.NewConsumers("payments", rdb, cfg.Consumer, log, map[string]stream.BatchHandler{cfg.OrdersStream: s.handle}); err != nil {
		return nil, err
	}
	return s, nil
}

// Run consumes the orders stream and relays the outbox to the payments
// stream until ctx is cancelled, then returns nil once both have stopped
// (the consumer finishes the batches in flight first). Outages of Redis or
// PostgreSQL are waited out, not returned. Call Run once.
func (s *Service) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "payments service started",
		"orders_stream", s.cfg.OrdersStream, "payments_stream", s.cfg.PaymentsStream, "fail_above", s.cfg.FailAbove)
	return s.consumers.Run(ctx, s.outbox.Run)
}

// Get returns the payment of order orderID as caller may see it: an
// operator sees every payment, a shopper only those of their own orders.
// The error wraps ErrNotFound when the order has no payment (yet) or it
// is another shopper's, answered like none at all.
func (s *Service) Get(ctx context.Context, caller auth.Identity, orderID string) (Payment, error) {
	ps, err := paymentsByOrder(ctx, s.pool, []string{orderID})
	if err != nil {
		return Payment{}, fmt.Errorf("get payment of order %s: %w", orderID, err)
	}
	if len(ps) == 0 || caller.Role != auth.RoleOperator && ps[0].UserID != caller.UserID {
		return Payment{}, fmt.Errorf("order %s: %w", orderID, ErrNotFound)
	}
	return ps[0], nil
}
