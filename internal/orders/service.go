// Package orders is the orders service: it validates and prices new orders
// from its copy of the catalog's prices, stores them, announces them on
// ORDERS_STREAM and follows their payments on PAYMENTS_STREAM.
//
// The copy of the prices follows the catalog's changes on PRODUCTS_STREAM
// and starts from a snapshot of the catalog (prices.go): creating an order
// asks the products service nothing, unless the copy does not have a
// product or has it at another price than the shopper saw.
//
// Creating an order is one PostgreSQL transaction holding the order, its
// items and its OrderPlaced event in the outbox; the outbox relay publishes
// the event. Payment outcomes are applied a batch per transaction, with the
// event ids recorded in the same transaction, and only move an order
// forward. A reconciler publishes OrderPlaced again for orders that stay
// unpaid too long, since Redis may lose acknowledged writes on a restart or
// failover: PostgreSQL is the source of truth.
package orders

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/money"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/config"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// Schema is the PostgreSQL schema the service owns.
const Schema = "orders"

// Group is the service's consumer group on the payments stream and on the
// products stream.
const Group = "orders"

// Defaults of Config.
const (
	// DefaultMaxTotalCents caps an order's total at 50,000.00.
	DefaultMaxTotalCents = 5_000_000
	// DefaultStuckAfter is how long an order may wait for its payment
	// outcome before the reconciler announces it again.
	DefaultStuckAfter = time.Minute
	// DefaultReconcileInterval is how often the reconciler looks.
	DefaultReconcileInterval = 15 * time.Second
	// DefaultPriceResync is how often the copy of the prices loads a
	// snapshot of the catalog again, besides at start.
	DefaultPriceResync = time.Hour
	// DefaultPriceRefresh is how often a process reads the changes of the
	// copy of the prices into its memory.
	DefaultPriceRefresh = 500 * time.Millisecond
)

// Config configures a Service. Zero fields take the defaults their
// comments give.
type Config struct {
	// ProductsURL is the products service's base URL, which the copy of
	// the prices loads snapshots from, and which prices the products the
	// copy lacks. Required: an absolute http or https URL.
	ProductsURL string
	// ProductsStream carries the ProductChanged events that feed the copy
	// of the prices. Default events.ProductsStream.
	ProductsStream string
	// ProductKey checks the signature of each ProductChanged: a change
	// that the products service did not sign is dead-lettered, never
	// copied (events.ProductKey). Required.
	ProductKey *events.ProductKey
	// PriceResync is how often the copy of the prices loads a snapshot of
	// the catalog again, to mend what events Redis may have lost; it also
	// does at start. It must not be negative. Default DefaultPriceResync
	// (1 hour).
	PriceResync time.Duration
	// PriceRefresh is how often the process reads into its memory the
	// rows of the copy of the prices that changed (other replicas' work):
	// a change reaches every replica's memory at most about this long
	// after it reached the copy. It must not be negative. Default
	// DefaultPriceRefresh (500ms).
	PriceRefresh time.Duration
	// Signer signs the service's calls to the products service with its
	// own identity (auth.RoleService). Required.
	Signer *auth.Signer
	// MaxTotalCents caps an order's total. It must not be negative.
	// Default DefaultMaxTotalCents (5,000,000 cents).
	MaxTotalCents int64
	// StuckAfter is how long an order may stay unpaid after its
	// OrderPlaced was written before the reconciler writes it again. It
	// must not be negative. Default DefaultStuckAfter (1 minute).
	StuckAfter time.Duration
	// ReconcileInterval is how often the reconciler looks. It must not be
	// negative. Default DefaultReconcileInterval (15s).
	ReconcileInterval time.Duration
	// OrdersStream receives the OrderPlaced events. Default
	// events.OrdersStream.
	OrdersStream string
	// PaymentsStream carries the PaymentProcessed events. Default
	// events.PaymentsStream.
	PaymentsStream string
	// SnapshotsStream receives the OrderSnapshot events that
	// PublishSnapshots appends. Default events.OrderSnapshotsStream.
	SnapshotsStream string
	// SnapshotRetention is how long SnapshotsStream keeps a snapshot
	// (approximately, trimmed as snapshots are appended): they are read
	// once, right after they are published. It must not be negative.
	// Default DefaultSnapshotRetention (1 hour).
	SnapshotRetention time.Duration
	// ServiceConfig holds the template of the consumers of PaymentsStream
	// and of ProductsStream (Consumer, whose Stream and DeadLetterStream
	// must be empty: each consumer reads its own stream and dead-letters
	// to that stream's default dead-letter stream; Group defaults to
	// Group), the relay of the OrderPlaced events (Outbox) and the
	// retention of OrdersStream (StreamMaxAge).
	outbox.ServiceConfig
	// OrderKey signs the OrderPlaced events, so that their consumers can
	// tell them from forgeries (events.OrderKey). Required.
	OrderKey *events.OrderKey
	// Metrics receives the orders' outcomes and the reconciler's work.
	// Default: none.
	Metrics Metrics
}

// setDefaults fills in the zero fields of c with the defaults their
// comments give. The consumer's Logger is left to NewService, which has
// the service's logger.
func (c *Config) setDefaults() {
	c.MaxTotalCents = cmp.Or(c.MaxTotalCents, DefaultMaxTotalCents)
	c.StuckAfter = cmp.Or(c.StuckAfter, DefaultStuckAfter)
	c.ReconcileInterval = cmp.Or(c.ReconcileInterval, DefaultReconcileInterval)
	c.OrdersStream = cmp.Or(c.OrdersStream, events.OrdersStream)
	c.PaymentsStream = cmp.Or(c.PaymentsStream, events.PaymentsStream)
	c.SnapshotsStream = cmp.Or(c.SnapshotsStream, events.OrderSnapshotsStream)
	c.SnapshotRetention = cmp.Or(c.SnapshotRetention, DefaultSnapshotRetention)
	c.ProductsStream = cmp.Or(c.ProductsStream, events.ProductsStream)
	c.PriceResync = cmp.Or(c.PriceResync, DefaultPriceResync)
	c.PriceRefresh = cmp.Or(c.PriceRefresh, DefaultPriceRefresh)
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	c.DefaultFor("", Group)
}

// Validate reports the problems with c, after defaults are applied, each
// naming the field at fault.
func (c Config) Validate() error {
	c.setDefaults()
	var p config.Problems
	p.If(c.OrderKey == nil, "OrderKey is required")
	p.If(c.ProductKey == nil, "ProductKey is required")
	_, err := web.ParseBaseURL(c.ProductsURL)
	p.If(err != nil, "ProductsURL: %w", err)
	p.If(c.Signer == nil, "Signer is required")
	p.If(c.MaxTotalCents < 0, "MaxTotalCents %d is negative", c.MaxTotalCents)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"StuckAfter", c.StuckAfter}, {"ReconcileInterval", c.ReconcileInterval}, {"SnapshotRetention", c.SnapshotRetention},
		{"PriceResync", c.PriceResync}, {"PriceRefresh", c.PriceRefresh},
	} {
		p.If(d.v < 0, "%s %v is negative", d.name, d.v)
	}
	p.If(c.OrdersStream == c.PaymentsStream, "OrdersStream and PaymentsStream are both %q", c.OrdersStream)
	p.If(c.SnapshotsStream == c.OrdersStream || c.SnapshotsStream == c.PaymentsStream,
		"SnapshotsStream %q must differ from OrdersStream and PaymentsStream", c.SnapshotsStream)
	p.If(c.ProductsStream == c.OrdersStream || c.ProductsStream == c.PaymentsStream || c.ProductsStream == c.SnapshotsStream,
		"ProductsStream %q must differ from the other streams", c.ProductsStream)
	p.Add(c.ValidateFor(c.PaymentsStream, c.ProductsStream))
	return p.Err()
}

// Service is the orders service. It runs the consumer of the payments
// stream, the outbox relay and the reconciler, and answers the requests
// behind the HTTP API. Its methods are safe for concurrent use.
type Service struct {
	pool    *pgxpool.Pool
	rdb     redis.UniversalClient
	cfg     Config
	log     *slog.Logger
	catalog *catalog
	outbox  *outbox.Outbox
	// consumers apply the payments and follow ProductsStream into the
	// copy of the prices.
	consumers stream.Consumers
	// memo is this process's memory of the copy of the prices.
	memo *priceMemo
	// snapshots appends to SnapshotsStream, trimming it.
	snapshots *stream.Publisher
	// insertOrderSQL is store.go's insertOrderSQL with this outbox.
	insertOrderSQL string
}

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or updates the orders schema: the orders and
// order_items tables, plus the outbox and processed_events tables. It is
// idempotent and safe to run from several replicas at once. NewService
// does not call it.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return outbox.MigrateService(ctx, pool, Schema, migrations)
}

// NewService returns a Service over pool and rdb, with cfg's zero fields
// defaulted. The orders schema of pool must be migrated (Migrate). It
// requires a logger, which the consumer also logs to, so that its lines
// carry the service. It does no I/O; Run starts the work.
func NewService(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg Config, log *slog.Logger) (*Service, error) {
	if err := config.CheckService("orders", log, cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	cfg.Outbox.Published = recordPublished // for the journey: when each OrderPlaced was published
	s := &Service{
		pool:    pool,
		rdb:     rdb,
		cfg:     cfg,
		log:     log,
		catalog: newCatalog(cfg.ProductsURL, cfg.Signer),
		memo:    &priceMemo{byID: map[string]product{}},
		outbox:  cfg.NewOutbox(pool, rdb, Schema, cfg.OrdersStream, events.PartitionKey, log),
		snapshots: stream.NewPublisher(rdb, map[string]stream.Retention{
			cfg.SnapshotsStream: {MaxAge: cfg.SnapshotRetention},
		}),
	}
	s.insertOrderSQL = fmt.Sprintf(insertOrderSQL, s.outbox.InsertSQL(17))
	var err error
	s.consumers, err = stream.NewConsumers("orders", rdb, cfg.Consumer, log, map[string]stream.BatchHandler{
		cfg.PaymentsStream: s.handlePayments,
		cfg.ProductsStream: s.handleProducts,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Run runs the payment consumer, the outbox relay, the reconciler and the
// copy of the prices (its consumer and its snapshots) until ctx is
// cancelled.
func (s *Service) Run(ctx context.Context) error {
	return s.consumers.Run(ctx, s.syncPricesLoop, s.refreshPricesLoop, s.outbox.Run, s.reconcileLoop)
}

// Create validates req, prices it from the copy of the catalog's prices
// (see prices) and stores the order
// for id's user, announcing it on ORDERS_STREAM. With an idempotency key
// the user already used for the same request, it returns the first order
// and false; for a different request, an error. When the connection to the
// database breaks after the order was sent, whether it was stored is
// unknown: the error is Unavailable with code outcome_unknown, and a retry
// with the same key returns the order if it was stored, else stores it.
func (s *Service) Create(ctx context.Context, id auth.Identity, req CreateRequest, idempotencyKey string) (Order, bool, error) {
	if err := req.Validate(); err != nil {
		return Order{}, false, err
	}
	found, err := s.prices(ctx, req.Items)
	if err != nil {
		return Order{}, false, err
	}
	o := Order{
		ID:        stream.NewID(),
		UserID:    id.UserID,
		Status:    events.StatusCreated,
		Currency:  "USD",
		CreatedBy: id.UserID,
		UpdatedBy: id.UserID,
		Items:     make([]Item, len(req.Items)),
	}
	for i, it := range req.Items {
		p, ok := found[it.ProductID]
		if !ok || !p.Active {
			return Order{}, false, errUnknownProduct(it.ProductID)
		}
		if it.PriceCents != nil && *it.PriceCents != p.PriceCents {
			return Order{}, false, errPriceChanged(it.ProductID, *it.PriceCents, p.PriceCents)
		}
		line, err := money.Mul(p.PriceCents, int64(it.Qty))
		if err != nil || o.AmountCents+line > s.cfg.MaxTotalCents {
			return Order{}, false, errTotalTooLarge(o.AmountCents+line, s.cfg.MaxTotalCents)
		}
		o.AmountCents += line
		o.Items[i] = Item{ProductID: p.ID, DisplayName: p.DisplayName, Qty: it.Qty, PriceCents: p.PriceCents, LineCents: line}
	}
	o.StatusName = o.Status.String()

	// The order's time is the service's, so that OrderPlaced, written in
	// the same statement, carries it; PostgreSQL keeps microseconds.
	o.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	o.UpdatedAt = o.CreatedAt
	placed, err := outbox.Encode(ctx, s.placedMessage(o, id.UserAgent, id.IP))
	if err != nil {
		return Order{}, false, err
	}
	created, err := insertOrder(ctx, s.pool, s.insertOrderSQL, &o, idempotencyKey, req.hash(), id.UserAgent, id.IP, placed)
	if postgres.OutcomeUnknown(err) {
		// The statement may have committed before the connection broke.
		return Order{}, false, errOutcomeUnknown(fmt.Errorf("create order %s: %w", o.ID, err), idempotencyKey != "")
	}
	if err != nil {
		return Order{}, false, fmt.Errorf("create order: %w", err)
	}
	if !created {
		prev, hash, err := orderByKey(ctx, s.pool, id.UserID, idempotencyKey)
		if err != nil {
			return Order{}, false, fmt.Errorf("create order: %w", err)
		}
		if hash != req.hash() {
			return Order{}, false, errKeyReused(idempotencyKey, prev.ID)
		}
		return prev, false, nil
	}
	s.outbox.Kick()
	return o, true, nil
}

// placedMessage returns the OrderPlaced of o, signed, bound for the
// orders stream.
func (s *Service) placedMessage(o Order, userAgent, ip string) *outbox.Message {
	e := events.OrderPlaced{Order: o.event(), UserAgent: userAgent, IP: ip}
	return &outbox.Message{Stream: s.cfg.OrdersStream, Event: e.Event(s.cfg.OrderKey)}
}

// Get returns the order id if it belongs to userID. The error wraps
// ErrNotFound when it does not exist or is another user's, so ids cannot
// be probed.
func (s *Service) Get(ctx context.Context, userID, id string) (Order, error) {
	orders, err := loadOrders(ctx, s.pool, `WHERE o.order_id = $1 AND o.user_id = $2`, id, userID)
	if err != nil {
		return Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	if len(orders) == 0 {
		return Order{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	return orders[0], nil
}

// List returns userID's orders, newest first, at most limit.
func (s *Service) List(ctx context.Context, userID string, limit int) ([]Order, error) {
	orders, err := loadOrders(ctx, s.pool,
		`WHERE o.user_id = $1 ORDER BY o.created_at DESC, o.order_id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("list orders of user %s: %w", userID, err)
	}
	return orders, nil
}

// reconcileLoop runs Reconcile every ReconcileInterval.
func (s *Service) reconcileLoop(ctx context.Context) error {
	t := time.NewTicker(s.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n, err := s.Reconcile(ctx); err != nil {
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "reconcile failed", "err", err)
			}
		} else if n > 0 {
			s.log.WarnContext(ctx, "republished events of orders stuck without a payment outcome", "orders", n)
		}
	}
}

// Reconcile writes OrderPlaced again, with a new event id, for up to 500
// orders that have waited for their payment outcome longer than
// StuckAfter since their event was last written, and returns how many. The
// payments service pays each order once and answers a repeat with the
// outcome it already has.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		stuck, err := markStuck(ctx, tx, s.cfg.StuckAfter, 500)
		if err != nil || len(stuck) == 0 {
			return err
		}
		ids := make([]string, len(stuck))
		for i, o := range stuck {
			ids[i] = o.id
		}
		orders, err := loadOrders(ctx, tx, `WHERE o.order_id = ANY($1)`, pgx.QueryExecModeExec, ids)
		if err != nil {
			return err
		}
		msgs := make([]*outbox.Message, len(orders))
		for i, o := range orders {
			j := slices.IndexFunc(stuck, func(so stuckOrder) bool { return so.id == o.ID })
			msgs[i] = s.placedMessage(o, stuck[j].userAgent, stuck[j].ip)
		}
		n = len(msgs)
		return s.outbox.Add(ctx, tx, msgs...)
	})
	if err != nil {
		return 0, fmt.Errorf("reconcile: %w", err)
	}
	if n > 0 {
		s.outbox.Kick()
		s.cfg.Metrics.Republished(n)
	}
	return n, nil
}

// OutboxPending returns how many events wait to be published.
func (s *Service) OutboxPending(ctx context.Context) (int64, error) { return s.outbox.Pending(ctx) }
