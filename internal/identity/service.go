// Package identity is streamcart's digital identity service. It records the
// identities that shoppers log in with, scores the checkout of each order
// against them and announces the score, flagging potential fraud, with an
// IdentityScored event on the transaction stream. GET /identities and
// GET /scores/{orderId} show a shopper their identities and scores.
//
// # Login identities
//
// The gateway announces each new session with a LoginIdentityRecorded event
// (action INSERT_LOGIN_IDENTITY) on the transaction stream. The service
// keeps one login identity per user, browser fingerprint and IP address.
// The fingerprint is the hex SHA-256 of the browser's user agent
// (Fingerprint). IP addresses are normalized: IPv4-mapped IPv6 addresses
// are unmapped and a port is dropped. A further login from the same browser
// and address moves the identity's last-seen time and session forward. The
// upsert never moves them back, so a redelivered or replayed event changes
// nothing. Other event types on the stream, including the service's own
// IdentityScored, are acknowledged and ignored. A LoginIdentityRecorded that
// does not parse is dead-lettered.
//
// Login identities last seen more than Config.LoginRetention ago (default
// 90 days) are deleted by Run, every Config.RetentionInterval.
//
// # Identity score
//
// For each OrderPlaced on the orders stream, the identity score is the
// share of the checkout's two characteristics found among the user's login
// identities. The characteristics are the fingerprint of the order's
// browserAgent and its ipAddress. The score is 1 when both are found, 0.5
// when one is and 0 when neither is. Each characteristic is looked up on
// its own, so a checkout whose browser the user logged in with on one
// occasion and whose address on another scores 1. A characteristic the
// checkout lacks (an empty agent or address) never matches. The order is
// potential fraud when its score is below Config.FraudThreshold (default
// 0.5). With the default, only a checkout that matches nothing is flagged.
//
// # One score per order, at least one announcement per event
//
// The consumer handles a whole read of the orders stream in one PostgreSQL
// transaction. It records the batch's event ids in processed_events
// (outbox.Apply). For the event ids not seen before, it inserts the scores
// with ON CONFLICT (order_id) DO NOTHING and writes one IdentityScored per
// such event into the outbox. An event delivered again under the same id
// has no effect at all. An OrderPlaced under a new event id for an order
// that already has a score creates no second score. This happens when the
// orders reconciler re-publishes an order. The stored score is announced
// again, unchanged, because the first announcement may be what got lost.
// The outbox relay publishes the events once the transaction has
// committed.
//
// # The login and the order race
//
// The login event and the order event travel on different streams and are
// read by different consumers. The service can therefore see an order
// before the login identity of the session the order was placed in. This is
// the usual case for a new shopper who logs in and buys at once. Scored
// right away, such an order would get 0 and be flagged. So when the user
// has no login identity yet and the order is younger than Config.Grace
// (default 5s, measured from the order's createdOn), the service defers the
// order. It still commits the rest of the batch, then defers the batch
// (stream.Defer) by a fifth of the grace. The consumer retries it then,
// without counting a delivery or logging a warning: waiting is not a
// failure. On the retry, the orders that were already scored are skipped
// as duplicates. Once the grace has passed, the order is scored with what
// is known; with no login identity at all, that is 0 and flagged.
//
// The grace covers only users who have no login identity yet. An order
// from a user who already has identities is scored at once, even if it came
// from a new device whose login has not arrived. It may then score 0 or 0.5.
// Waiting on every imperfect score would hold up each truly suspicious
// order for the whole grace.
//
// # Only orders that the orders service has
//
// Before it scores a batch, the consumer asks the orders service about
// the orders it is about to score, in one call (Config.Orders, package
// ordercheck); an order that waits for a login is asked about once it is
// ready. An
// OrderPlaced whose order orders does not have, or has with another user
// or amount than the event says, is dead-lettered and never scored: its
// IdentityScored would make the order history list an order that does
// not exist.
//
// While PostgreSQL or the orders service is unreachable, batches of both
// streams are retried with backoff (stream.Unavailable) until it is back.
package identity

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/config"
	"streamcart/internal/stream"
)

// Schema is the PostgreSQL schema the service owns.
const Schema = "identity"

// Group is the service's consumer group on the orders stream and on the
// transaction stream.
const Group = "identity"

// Defaults of Config.
const (
	// DefaultFraudThreshold flags an order as potential fraud when its
	// checkout matches none of the user's login identities.
	DefaultFraudThreshold = 0.5
	// DefaultGrace is how long an order of a user without any login
	// identity waits for the first one.
	DefaultGrace = 5 * time.Second
	// DefaultLoginRetention is how long a login identity is kept after it
	// was last seen.
	DefaultLoginRetention = 90 * 24 * time.Hour
	// DefaultRetentionInterval is how often the login identities past
	// their retention are deleted.
	DefaultRetentionInterval = time.Hour
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or updates the identity schema. That is the
// login_identities and order_scores tables, plus the outbox and
// processed_events tables. It is idempotent and safe to run from several
// replicas at once. NewService does not call it.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return outbox.MigrateService(ctx, pool, Schema, migrations)
}

// Config configures a Service. Zero fields take the defaults their
// comments give.
type Config struct {
	// FraudThreshold flags an order as potential fraud when its identity
	// score is below it. It must be in [0, 1]. Default
	// DefaultFraudThreshold (0.5).
	FraudThreshold float64
	// Grace is how long after its creation an order of a user who has no
	// login identity yet waits for one before it is scored. It must not be
	// negative. Default DefaultGrace (5s).
	Grace time.Duration
	// OrdersStream is the stream of OrderPlaced events. Default
	// events.OrdersStream.
	OrdersStream string
	// TransactionStream carries the LoginIdentityRecorded events and
	// receives the IdentityScored events. Default events.TransactionStream.
	TransactionStream string
	// ServiceConfig holds the template of the consumers of OrdersStream
	// and of TransactionStream (Consumer, whose Stream and
	// DeadLetterStream must be empty: each consumer reads its own stream
	// and dead-letters to that stream's default dead-letter stream; Group
	// defaults to Group), the relay of the IdentityScored events (Outbox)
	// and the retention of TransactionStream (StreamMaxAge).
	outbox.ServiceConfig
	// OrderKey checks the signature of each OrderPlaced: an order that
	// the orders service did not sign is dead-lettered, never scored
	// (events.OrderKey). Required.
	OrderKey *events.OrderKey
	// Orders tells which orders the orders service has, with their user
	// and amount (an ordercheck.Client): an OrderPlaced of an order that
	// it does not have as the event says is dead-lettered, never scored,
	// so that no IdentityScored puts it in the order history. Required.
	Orders ordercheck.Lookup
	// LoginRetention is how long a login identity is kept after it was
	// last seen: Run deletes older ones every RetentionInterval. A
	// shopper's session lasts a day without use (the gateway's
	// SessionTTL), so an identity this old belongs to a user who can no
	// longer order. It must be positive. Default DefaultLoginRetention
	// (90 days).
	LoginRetention time.Duration
	// RetentionInterval is how often Run deletes the login identities
	// past LoginRetention. It must be positive. Default
	// DefaultRetentionInterval (1h).
	RetentionInterval time.Duration
}

// setDefaults fills in the zero fields of c with the defaults their
// comments give. The consumers' Logger is left to NewService, which has
// the service's logger.
func (c *Config) setDefaults() {
	c.FraudThreshold = cmp.Or(c.FraudThreshold, DefaultFraudThreshold)
	c.Grace = cmp.Or(c.Grace, DefaultGrace)
	c.OrdersStream = cmp.Or(c.OrdersStream, events.OrdersStream)
	c.TransactionStream = cmp.Or(c.TransactionStream, events.TransactionStream)
	c.LoginRetention = cmp.Or(c.LoginRetention, DefaultLoginRetention)
	c.RetentionInterval = cmp.Or(c.RetentionInterval, DefaultRetentionInterval)
	c.DefaultFor("", Group)
}

// Validate reports the problems with c, after defaults are applied, each
// naming the field at fault.
func (c Config) Validate() error {
	c.setDefaults()
	var p config.Problems
	p.If(c.OrderKey == nil, "OrderKey is required")
	p.If(c.Orders == nil, "Orders is required")
	p.If(math.IsNaN(c.FraudThreshold) || c.FraudThreshold < 0 || c.FraudThreshold > 1, "FraudThreshold %v is not in [0, 1]", c.FraudThreshold)
	p.If(c.Grace < 0, "Grace %v is negative", c.Grace)
	p.If(c.OrdersStream == c.TransactionStream, "OrdersStream and TransactionStream are both %q", c.OrdersStream)
	p.Add(c.ValidateFor(c.OrdersStream, c.TransactionStream))
	p.If(c.LoginRetention < 0, "LoginRetention %v is negative", c.LoginRetention)
	p.If(c.RetentionInterval < 0, "RetentionInterval %v is negative", c.RetentionInterval)
	return p.Err()
}

// Service is the digital identity service. It runs the consumers of the
// orders and transaction streams and the outbox relay, and answers the
// queries behind the HTTP API. Its methods are safe for concurrent use.
type Service struct {
	pool      *pgxpool.Pool
	cfg       Config
	log       *slog.Logger
	outbox    *outbox.Outbox
	consumers stream.Consumers
}

// NewService returns a Service over pool and rdb, with cfg's zero fields
// defaulted. The identity schema of pool must be migrated (Migrate). It
// requires a logger, which the consumers also log to, so that their
// lines carry the service. It does no I/O; Run starts the work.
func NewService(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg Config, log *slog.Logger) (*Service, error) {
	if err := config.CheckService("identity", log, cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Service{
		pool:   pool,
		cfg:    cfg,
		log:    log,
		outbox: cfg.NewOutbox(pool, rdb, Schema, cfg.TransactionStream, events.PartitionKey, log),
	}
	var err error
	s.consumers, err = stream.NewConsumers("identity", rdb, cfg.Consumer, log, map[string]stream.BatchHandler{
		cfg.OrdersStream:      s.handleOrders,
		cfg.TransactionStream: s.handleTransactions,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Run consumes the orders and transaction streams, relays the outbox to
// the transaction stream and deletes the login identities past their
// retention (expireLogins) until ctx is cancelled. It returns nil once
// all four have stopped; the consumers finish the batches in flight
// first. Outages of Redis or PostgreSQL are waited out, not returned.
// Call Run once.
func (s *Service) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "identity service started",
		"orders_stream", s.cfg.OrdersStream, "transaction_stream", s.cfg.TransactionStream,
		"fraud_threshold", s.cfg.FraudThreshold, "grace", s.cfg.Grace, "login_retention", s.cfg.LoginRetention)
	return s.consumers.Run(ctx, s.outbox.Run, s.expireLogins)
}

// expireLogins deletes the login identities last seen more than
// Config.LoginRetention ago, at once and then every RetentionInterval,
// until ctx is cancelled. A failed sweep is logged and the next one
// tries again; several replicas sweeping at once only delete the same
// rows. It returns nil when ctx is cancelled.
func (s *Service) expireLogins(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.RetentionInterval)
	defer tick.Stop()
	for {
		n, err := deleteIdentitiesSeenBefore(ctx, s.pool, time.Now().Add(-s.cfg.LoginRetention), expireBatch)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.WarnContext(ctx, "could not delete expired login identities; trying again later", "err", err)
		case n > 0:
			s.log.InfoContext(ctx, "deleted expired login identities", "count", n, "retention", s.cfg.LoginRetention)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Score returns the identity score of order orderID. The error wraps
// ErrNotFound when the order has no score (yet).
func (s *Service) Score(ctx context.Context, orderID string) (Score, error) {
	scores, err := scoresByOrder(ctx, s.pool, []string{orderID})
	if err != nil {
		return Score{}, fmt.Errorf("get score of order %s: %w", orderID, err)
	}
	sc, ok := scores[orderID]
	if !ok {
		return Score{}, fmt.Errorf("order %s: %w", orderID, ErrNotFound)
	}
	return sc, nil
}

// Identities returns the login identities of user userID, most recently
// seen first. It returns an empty slice when the user has none.
func (s *Service) Identities(ctx context.Context, userID string) ([]LoginIdentity, error) {
	ids, err := identitiesOf(ctx, s.pool, userID)
	if err != nil {
		return nil, fmt.Errorf("get identities of user %s: %w", userID, err)
	}
	return ids, nil
}
