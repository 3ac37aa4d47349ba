// Package orderhistory is streamcart's order history service: a read model
// (the query side of CQRS) of each shopper's orders, kept only in Redis and
// built from the events of three streams. GET /history lists the caller's
// orders, newest first, and the changes to a record are announced on the
// user's Pub/Sub channel (events.OrderUpdatesChannel), which the gateway
// relays to the browser.
//
// # Events
//
// The service reads each stream in a consumer group of its own, Group, so
// it gets every entry that the other services get:
//
//   - OrderPlaced (orders stream): the items, amount, createdOn and
//     createdBy (the user), and status CREATED.
//   - PaymentProcessed (payments stream): the paymentId and the payment's
//     final status.
//   - IdentityScored (transaction stream): the identityScore and
//     potentialFraud flag. Other events on that stream, such as
//     LoginIdentityRecorded, are acknowledged and ignored.
//
// and, only while it rebuilds, OrderSnapshot (ORDER_SNAPSHOTS, read by
// range): everything an OrderPlaced says, with the current status and
// paymentId (see Rebuild).
//
// An event that does not parse is dead-lettered, as is an OrderPlaced
// whose order the orders service does not have, or has with another user
// or amount than the event says (the consumer asks orders about a whole
// batch in one call, Config.Orders; see package ordercheck), and an event
// whose userId is not the one its order's record already has: the producers copy the user
// from the OrderPlaced, so a contradiction means a bad event, and letting
// it in could show an order to the wrong user. (The guarantees below
// assume that events of one order agree on its user; the first event seen
// of an order fixes it.)
//
// # Key layout
//
// With the default Config.KeyPrefix "orderhistory:", every key in one
// Redis Cluster slot (the hash tag {model}, see modelTag):
//
//	orderhistory:{model}:orders:<bucket>  hash of the records of the
//	                              orders whose ids start with <bucket>,
//	                              their first 8 characters (about a
//	                              minute of UUIDv7 ids, see bucketLen):
//	                              field orderId, value the record, a JSON
//	                              object of strings: orderId, userId,
//	                              status, statusName, paymentId,
//	                              amountCents, items (JSON of
//	                              events.LineItem), createdOn, createdBy,
//	                              lastUpdatedOn, lastUpdatedBy,
//	                              identityScore, potentialFraud; and the
//	                              merge's bookkeeping: statusRank, statusAt,
//	                              placedVersion, scoredVersion
//	orderhistory:{model}:user:<userId>  sorted set of the user's orderIds,
//	                              scored by createdOn in Unix milliseconds
//	orderhistory:{model}:complete:buckets  the completeness marker: the
//	                              generation id of the last rebuild that
//	                              completed
//	orderhistory:{model}:rebuilding  the rebuild lock: the generation id of
//	                              the rebuild in progress, expiring
//
// The records are kept by the minute, not in a hash per order, so that
// the merge reads and writes a consumer batch's records, orders of the
// same minute, with one command each (see below).
//
// Times are stored as UTC RFC 3339 with milliseconds, all of one width, so
// that comparing them as strings compares the times.
//
// # Arrival order and repeated delivery do not matter
//
// Each event is applied by a Lua script (merge.lua, run with EVALSHA) that
// merges it into the record atomically; one run of the script applies a
// whole consumer batch (on a Redis Cluster, the batch's events of one hash
// slot), so that a batch costs one EVALSHA and one round trip. The run
// reads the records of its events with one HMGET per bucket, merges the
// events in turn (two events of one order see each other's changes, as
// in two runs), and writes the records that changed with one HSET per
// bucket. Every field is set by a rule that picks a winner among all the
// events seen, whatever order they came in:
//
//   - status and paymentId: the greatest (events.Status.Rank, paymentId,
//     status code). OrderPlaced and IdentityScored propose CREATED with no
//     payment, PaymentProcessed its outcome; a status never moves back, and
//     both final statuses rank above all others. (Two different payments
//     of one order cannot happen, as payments charges an order once; the
//     tie-break only keeps the rule deterministic.)
//   - items, amountCents, createdOn, createdBy: those of the OrderPlaced
//     with the greatest (event time, event id); the orders service
//     re-publishes an order with the same data.
//   - identityScore, potentialFraud: those of the IdentityScored with the
//     greatest (event time, event id), i.e. the latest scoring.
//   - lastUpdatedOn, lastUpdatedBy: the greatest event time, with who made
//     that event (the user for OrderPlaced, "payments", "identity").
//
// Each rule is a maximum, and a maximum does not care about the order of
// its arguments (commutative) nor about seeing one twice (idempotent). So
// any interleaving of the three streams, with any entry delivered any
// number of times, ends in the same record, and no table of processed
// event ids is needed: applying an event again changes nothing.
//
// # Updates
//
// The script publishes the whole record, inside the same atomic step, so
// the updates of one order reach the channel in the order they were made,
// when the shopper is to see a change: when the record's status changed
// (the first event of an order makes it, CREATED or final), or when a
// field the shopper sees changed once the status is final. A change
// that keeps a status short of final, such as an identity score that
// came before the payment, is not published by itself: the update of the
// final status carries it. So a repeated event, or a change of
// bookkeeping alone (a re-published OrderPlaced), publishes nothing, and
// once an order is final its last update is its current record. An order
// costs two updates when identity scores it before payments is done,
// three when after.
//
// A payment or a score may come before its order, since the streams are
// consumed independently. The script then creates the record with what the
// event knows (orderId, userId, status; a payment's amount stands in for
// the order's until the order comes), and the OrderPlaced fills in the rest
// later without lowering the status. Such an order is listed already, with
// createdOn null, so that a shopper who just paid sees it; as it has no
// createdOn yet, it is placed in the user's list by its earliest known
// event time, and moved to its createdOn when the OrderPlaced arrives.
//
// # Completeness, and rebuilding from the system of record
//
// The model is complete (it has every order the orders service has, and
// every event the streams have) while the marker key is set. Only a
// completed Rebuild sets it; a rebuild deletes it before it deletes the
// model, and a Redis that lost its data has lost it too. Readers (List,
// Get) read the marker before and after their reads and answer 503
// (errs.Unavailable) unless both readings are the same generation, so
// they answer the whole history or nothing, never a partial list. Run
// checks the marker every Config.CheckInterval and rebuilds when it is
// missing, at the first start and after Redis lost its data, with no
// operator.
//
// Rebuild recreates the model from nothing: it deletes the model's keys,
// has the orders service publish a snapshot of every order to
// ORDER_SNAPSHOTS (Config.Snapshots, over HTTP; the history never reads
// the orders schema) and merges them, then replays the three streams
// from their first entry through the same merge, announcing nothing.
// Because the merge is commutative and idempotent, the result equals the
// model that live consumption built, whatever order the consumers saw
// the events in, except that a snapshot dates lastUpdatedOn by orders'
// own last update, and statusAt. That bookkeeping field is no maximum
// over the events: it is the service's clock when the merge gave the
// record its current status, which the operations page shows in an
// order's journey (GET /history/{orderId}/journey); after a rebuild it is
// the rebuild's time. The snapshots restore every order with its status and
// payment whatever the streams' retention; the identity scores come only
// from what TRANSACTION_STREAM still holds, and an order whose score was
// trimmed or lost shows identityScore null (see docs/decisions.md).
package orderhistory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/platform/config"
	"streamcart/internal/platform/errs"
	"streamcart/internal/stream"
)

// Group is the service's consumer group on each of its streams.
const Group = "orderhistory"

// DefaultKeyPrefix is the default Config.KeyPrefix.
const DefaultKeyPrefix = "orderhistory:"

// Limits of List.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// ErrNotFound is wrapped by the errors of Get for an order that the user
// has no record of, including another user's order; callers test for it
// with errors.Is. Clients see code "not_found".
var ErrNotFound = errs.NotFound("not_found", "no such order in your history")

// Config configures a Service. Zero fields take the defaults their
// comments give.
type Config struct {
	// KeyPrefix starts the name of every key of the model. Default
	// DefaultKeyPrefix ("orderhistory:").
	KeyPrefix string
	// OrdersStream is the stream of OrderPlaced events. Default
	// events.OrdersStream.
	OrdersStream string
	// PaymentsStream is the stream of PaymentProcessed events. Default
	// events.PaymentsStream.
	PaymentsStream string
	// TransactionStream is the stream of IdentityScored events. Default
	// events.TransactionStream.
	TransactionStream string
	// Consumer is the template of the three consumers. Its Stream and
	// DeadLetterStream must be empty: the service sets Stream per consumer,
	// and each dead-letters to its stream's default. Group defaults to
	// Group. Its Logger is replaced by the service's logger, so that the
	// consumers' lines say which service they are from. Its Partitions
	// is how many partitions each of the three streams has: the consumers
	// read them all, and Rebuild replays them all. The other fields take
	// stream.Config's defaults.
	Consumer stream.Config
	// OrderKey checks the signature of each OrderPlaced and
	// OrderSnapshot: an order that the orders service did not sign is
	// dead-lettered (skipped by Rebuild), never shown (events.OrderKey).
	// Required.
	OrderKey *events.OrderKey
	// Snapshots has the orders service publish snapshots of its orders
	// for Rebuild (an OrdersClient). Required.
	Snapshots Snapshotter
	// Orders tells which orders the orders service has, with their user
	// and amount (an ordercheck.Client): an OrderPlaced of an order that
	// it does not have as the event says is dead-lettered (skipped by
	// Rebuild), never shown. Required.
	Orders ordercheck.Lookup
	// SnapshotsStream is the stream the snapshots are on, which Rebuild
	// reads by range. Default events.OrderSnapshotsStream.
	SnapshotsStream string
	// CheckInterval is how often Run checks that the model is complete
	// (its marker is there) and rebuilds it when not. It must not be
	// negative. Default DefaultCheckInterval (2s).
	CheckInterval time.Duration
}

// DefaultCheckInterval is the default Config.CheckInterval.
const DefaultCheckInterval = 2 * time.Second

func (c *Config) setDefaults() {
	c.KeyPrefix = cmp.Or(c.KeyPrefix, DefaultKeyPrefix)
	c.OrdersStream = cmp.Or(c.OrdersStream, events.OrdersStream)
	c.PaymentsStream = cmp.Or(c.PaymentsStream, events.PaymentsStream)
	c.TransactionStream = cmp.Or(c.TransactionStream, events.TransactionStream)
	c.SnapshotsStream = cmp.Or(c.SnapshotsStream, events.OrderSnapshotsStream)
	c.CheckInterval = cmp.Or(c.CheckInterval, DefaultCheckInterval)
	c.Consumer.DefaultFor("", Group)
}

// streams returns the three streams, in the order Rebuild replays them.
func (c Config) streams() []string {
	return []string{c.OrdersStream, c.PaymentsStream, c.TransactionStream}
}

// Validate reports the problems with c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var p config.Problems
	p.If(c.OrderKey == nil, "OrderKey is required")
	p.If(c.Snapshots == nil, "Snapshots is required")
	p.If(c.Orders == nil, "Orders is required")
	p.If(c.CheckInterval < 0, "CheckInterval %v is negative", c.CheckInterval)
	p.If(slices.Contains(c.streams(), c.SnapshotsStream), "SnapshotsStream %q must differ from the streams the consumers read", c.SnapshotsStream)
	p.If(c.Consumer.Stream != "", "Consumer.Stream must be empty, not %q: the service sets it", c.Consumer.Stream)
	p.If(c.Consumer.DeadLetterStream != "", "Consumer.DeadLetterStream must be empty, not %q: each stream has its own", c.Consumer.DeadLetterStream)
	ss := c.streams()
	p.If(ss[0] == ss[1] || ss[0] == ss[2] || ss[1] == ss[2], "OrdersStream, PaymentsStream and TransactionStream %q must differ", ss)
	for _, s := range ss {
		if err := c.Consumer.WithStream(s).Validate(); err != nil {
			p.Add(fmt.Errorf("Consumer of %s: %w", s, err))
		}
	}
	return p.Err()
}

// Service is the order history service: the consumers that keep the read
// model and the queries behind the HTTP API. Its methods are safe for
// concurrent use.
type Service struct {
	rdb       redis.UniversalClient
	cfg       Config
	log       *slog.Logger
	consumers stream.Consumers
}

// NewService returns a Service that keeps its model in rdb. It does no
// I/O; Run starts the consumers.
func NewService(rdb redis.UniversalClient, cfg Config, log *slog.Logger) (*Service, error) {
	if err := config.CheckService("orderhistory", log, cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Service{rdb: rdb, cfg: cfg, log: log}
	handlers := map[string]stream.BatchHandler{}
	for _, name := range cfg.streams() {
		handlers[name] = s.handle
	}
	var err error
	if s.consumers, err = stream.NewConsumers("orderhistory", rdb, cfg.Consumer, log, handlers); err != nil {
		return nil, err
	}
	return s, nil
}

// Run consumes the three streams, and checks every CheckInterval that
// the model is complete, rebuilding it when not (EnsureComplete), until
// ctx is cancelled; then it returns nil once every consumer has stopped
// (each finishes its batch in flight first). Redis outages are waited
// out, not returned. Call Run once.
func (s *Service) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "order history service started", "key_prefix", s.cfg.KeyPrefix,
		"orders_stream", s.cfg.OrdersStream, "payments_stream", s.cfg.PaymentsStream,
		"transaction_stream", s.cfg.TransactionStream, "snapshots_stream", s.cfg.SnapshotsStream,
		"check_interval", s.cfg.CheckInterval)
	return s.consumers.Run(ctx, s.watch)
}

// List returns up to limit (1 to MaxLimit) of userID's orders, newest
// first by createdOn; an order whose OrderPlaced has not arrived yet is
// placed by its earliest known event instead (see the package
// documentation). While the model is not known to be complete it returns
// an Unavailable error (503) rather than a list that may lack orders.
func (s *Service) List(ctx context.Context, userID string, limit int) ([]Record, error) {
	if limit < 1 || limit > MaxLimit {
		return nil, errs.Invalid("invalid_limit", "limit must be a whole number from 1 to %d, not %d", MaxLimit, limit)
	}
	var (
		before *redis.StringCmd
		idsCmd *redis.StringSliceCmd
	)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		before = p.Get(ctx, s.markerKey())
		idsCmd = p.ZRevRange(ctx, s.userKey(userID), 0, int64(limit-1))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("list orders of %s: %w", userID, err)
	}
	if before.Val() == "" {
		return nil, errIncomplete
	}
	ids := idsCmd.Val()
	cmds := make([]*redis.StringCmd, len(ids))
	var after *redis.StringCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, s.bucketKey(id), id)
		}
		after = p.Get(ctx, s.markerKey())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("list orders of %s: %w", userID, err)
	}
	if err := sameGeneration(before, after); err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(ids))
	for i, cmd := range cmds {
		h, err := recordFields(cmd.Val())
		if err != nil {
			return nil, fmt.Errorf("list orders of %s: order %s: %w", userID, ids[i], err)
		}
		if len(h) == 0 || h["userId"] != userID {
			continue
		}
		r, err := parseRecord(h)
		if err != nil {
			return nil, fmt.Errorf("list orders of %s: order %s: %w", userID, ids[i], err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Get returns order orderID of userID, or an error wrapping ErrNotFound
// when there is no record of it or it is another user's. While the model
// is not known to be complete it returns an Unavailable error (503)
// rather than a record that may be missing or behind.
func (s *Service) Get(ctx context.Context, userID, orderID string) (Record, error) {
	h, err := s.orderFields(ctx, orderID)
	if err != nil {
		return Record{}, fmt.Errorf("get order %s: %w", orderID, err)
	}
	if len(h) == 0 || h["userId"] != userID {
		return Record{}, fmt.Errorf("order %s of user %s: %w", orderID, userID, ErrNotFound)
	}
	r, err := parseRecord(h)
	if err != nil {
		return Record{}, fmt.Errorf("get order %s: %w", orderID, err)
	}
	return r, nil
}

// orderFields returns the fields of order orderID's record, empty when
// there is none, read between two readings of the completeness marker:
// while the model is not known to be complete, the error is Unavailable
// (sameGeneration).
func (s *Service) orderFields(ctx context.Context, orderID string) (map[string]string, error) {
	var before, rec, after *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		before = p.Get(ctx, s.markerKey())
		rec = p.HGet(ctx, s.bucketKey(orderID), orderID)
		after = p.Get(ctx, s.markerKey())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	if err := sameGeneration(before, after); err != nil {
		return nil, err
	}
	return recordFields(rec.Val())
}

// sameGeneration checks the marker read before and after a reader's
// reads: the reads saw a complete model only if the marker was there
// both times, with the same generation. The model only grows between
// rebuilds; a rebuild deletes the marker before it deletes anything, and
// a Redis that lost its data lost the marker too, so a partial model
// never lies between two equal readings.
func sameGeneration(before, after *redis.StringCmd) error {
	b, a := before.Val(), after.Val()
	if b == "" || a != b {
		return errIncomplete
	}
	return nil
}

// Ping reports whether Redis answers.
func (s *Service) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// modelTag is the hash tag of every key of the model: on a Redis Cluster
// they are all in one slot, on one primary. The merge script writes an
// order's record and its user's list at once, and the journey reads a
// record by order id alone, so no tag per user would do; the readers'
// pipelines read the completeness marker before and after the records,
// which holds only on one connection. The model is small (a record per
// order), so one primary serves it.
const modelTag = "{model}:"

// bucketLen is how many leading characters of an order id name the
// bucket its record is kept in. Order ids are UUIDv7 (stream.NewID),
// whose first eight hex digits are the top bits of their creation time
// in milliseconds: a bucket holds the orders of about a minute (65.5 s),
// so the events of one consumer batch, which are of orders placed
// moments ago, fall in one or two buckets. An id of any other form works
// as well, its records spread over more buckets.
const bucketLen = 8

// bucketKey is the hash that holds order orderID's record, in the field
// orderID.
func (s *Service) bucketKey(orderID string) string {
	return s.cfg.KeyPrefix + modelTag + "orders:" + orderID[:min(len(orderID), bucketLen)]
}
func (s *Service) userKey(userID string) string { return s.cfg.KeyPrefix + modelTag + "user:" + userID }

// markerKey holds the generation of the last complete rebuild: while it
// is there, the model holds every order (see the package documentation).
// It is named for the layout of the records in buckets: the layout
// before, a hash per order, had its marker in "complete", so that a
// service that finds only that one rebuilds into buckets.
func (s *Service) markerKey() string { return s.cfg.KeyPrefix + modelTag + "complete:buckets" }

// lockKey holds the generation of the rebuild in progress.
func (s *Service) lockKey() string { return s.cfg.KeyPrefix + modelTag + "rebuilding" }

// globEscape escapes the characters that are special in a SCAN pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\*?[]^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
