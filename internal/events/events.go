// Package events is the contract between streamcart's services: the stream
// names, the order status codes and the events each stream carries, with
// their field encoding. Services import it instead of each other.
//
// Field names follow the tutorial this system grew from, so an entry reads
// the same in redis-cli: ORDERS_STREAM carries orderId, orderAmount and
// userId; PAYMENTS_STREAM carries orderId, paymentId, orderStatusCode and
// userId.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"streamcart/internal/money"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// Stream names.
const (
	// OrdersStream has an OrderPlaced for each new order. Producer: orders.
	// Consumers: payments, orderhistory, identity.
	OrdersStream = "ORDERS_STREAM"
	// PaymentsStream has a PaymentProcessed for each payment outcome.
	// Producer: payments. Consumers: orders, orderhistory.
	PaymentsStream = "PAYMENTS_STREAM"
	// TransactionStream has LoginIdentityRecorded (producer: gateway) and
	// IdentityScored (producer: identity). Consumers: identity,
	// orderhistory.
	TransactionStream = "TRANSACTION_STREAM"
	// OrderSnapshotsStream has an OrderSnapshot of every order each time
	// the order history asks orders for them, to rebuild itself from the
	// system of record (see OrderSnapshot). Producer: orders. Reader:
	// orderhistory, by range during a rebuild, in no consumer group.
	OrderSnapshotsStream = "ORDER_SNAPSHOTS"
	// ProductsStream has a ProductChanged for each change of the catalog,
	// from its seeding on. Producer: products. Consumer: orders, which
	// keeps a copy of the prices from it.
	ProductsStream = "PRODUCTS_STREAM"
)

// PartitionKey returns the key that picks the partition of e's stream
// that e goes to (stream.Publisher.Partitioned), so that the events of
// one key stay in order in one partition: the user id of the events on
// TransactionStream (a user's logins come before the scores of their
// orders), the product id of a ProductChanged, the order id of the
// others. An event type without the field returns "", which partitions
// it by its event id.
func PartitionKey(e stream.Event) string {
	switch e.Type {
	case TypeLoginIdentityRecorded, TypeIdentityScored:
		return e.Fields["userId"]
	case TypeProductChanged:
		return e.Fields["productId"]
	}
	return e.Fields["orderId"]
}

// Event types.
const (
	TypeOrderPlaced           = "OrderPlaced"
	TypePaymentProcessed      = "PaymentProcessed"
	TypeLoginIdentityRecorded = "LoginIdentityRecorded"
	TypeIdentityScored        = "IdentityScored"
	TypeOrderSnapshot         = "OrderSnapshot"
	TypeProductChanged        = "ProductChanged"
)

// Status is an order's status code, as the tutorial numbers them.
type Status int

// Order statuses. Payment outcomes are final.
const (
	StatusPaymentFail      Status = -4
	StatusDraft            Status = 0
	StatusCreated          Status = 1
	StatusPending          Status = 2
	StatusPaymentInitiated Status = 3
	StatusPaymentSuccess   Status = 4
)

// String returns the status's name, e.g. "PAYMENT_SUCCESS".
func (s Status) String() string {
	switch s {
	case StatusPaymentFail:
		return "PAYMENT_FAIL"
	case StatusDraft:
		return "DRAFT"
	case StatusCreated:
		return "CREATED"
	case StatusPending:
		return "PENDING"
	case StatusPaymentInitiated:
		return "PAYMENT_INITIATED"
	case StatusPaymentSuccess:
		return "PAYMENT_SUCCESS"
	}
	return "UNKNOWN(" + strconv.Itoa(int(s)) + ")"
}

// known reports whether s is one of the statuses above.
func (s Status) known() bool {
	switch s {
	case StatusPaymentFail, StatusDraft, StatusCreated, StatusPending, StatusPaymentInitiated, StatusPaymentSuccess:
		return true
	}
	return false
}

// Final reports whether no further transition can follow s.
func (s Status) Final() bool { return s == StatusPaymentFail || s == StatusPaymentSuccess }

// Rank orders statuses along the order's life, so that a transition is
// allowed only when it moves forward: both payment outcomes rank last.
func (s Status) Rank() int {
	if s.Final() {
		return 100
	}
	return int(s)
}

// LineItem is one product line of an order, priced from the catalog.
type LineItem struct {
	ProductID  string `json:"productId"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"priceCents"`
}

// Order is what an OrderPlaced and an OrderSnapshot both say of an order,
// and what their signatures cover (OrderKey): who placed it, its lines,
// its amount and when it was created. Both events carry it in the same
// fields (orderId, userId, orderAmount, products and createdOn).
type Order struct {
	OrderID     string
	UserID      string
	AmountCents int64
	Items       []LineItem
	CreatedOn   time.Time
}

// payload returns the payload fields of o, for an event to add its own to.
func (o Order) payload() map[string]string {
	items, _ := json.Marshal(o.Items) // a slice of plain structs always encodes
	return map[string]string{
		"orderId":     o.OrderID,
		"orderAmount": money.Format(o.AmountCents),
		"userId":      o.UserID,
		"products":    string(items),
		"createdOn":   o.CreatedOn.UTC().Format(time.RFC3339Nano),
	}
}

// order reads the fields of an Order. It must be one that orders can have
// written: ids that are ids, at least one line, and an amount that is the
// sum of the lines.
func (f *fields) order() Order {
	o := Order{OrderID: f.id("orderId"), UserID: f.id("userId")}
	o.AmountCents = f.amount("orderAmount")
	o.CreatedOn = f.time("createdOn")
	o.Items = f.lines("products", o.AmountCents)
	return o
}

// OrderPlaced announces a new order on OrdersStream.
type OrderPlaced struct {
	Order
	// UserAgent and IP are the checkout's browser agent and address, for
	// the identity score.
	UserAgent string
	IP        string
}

// Event encodes e for publishing, signed with k (see OrderKey): only
// orders holds the key's secret among the writers of OrdersStream, and its
// consumers refuse an OrderPlaced without a good signature.
func (e OrderPlaced) Event(k *OrderKey) stream.Event {
	f := e.Order.payload()
	f["browserAgent"] = e.UserAgent
	f["ipAddress"] = e.IP
	f[FieldSignature] = k.sign(e)
	return stream.Event{Type: TypeOrderPlaced, Fields: f}
}

// ParseOrderPlaced decodes and validates an OrderPlaced message and checks
// its signature with k. An order that orders cannot have written (see
// Order) or that it did not sign is a permanent error.
func ParseOrderPlaced(m stream.Message, k *OrderKey) (OrderPlaced, error) {
	f := fields{m: m}
	e := OrderPlaced{Order: f.order(), UserAgent: m.Fields["browserAgent"], IP: m.Fields["ipAddress"]}
	if f.err == nil {
		f.err = k.verify(e, m.Fields[FieldSignature])
	}
	return e, f.done(TypeOrderPlaced)
}

// lines reads the JSON line items of field name, which must be an order's:
// at least one line, each of a product id, a positive quantity and a
// positive price, adding up to amount.
func (f *fields) lines(name string, amount int64) []LineItem {
	var items []LineItem
	if err := json.Unmarshal([]byte(f.required(name)), &items); err != nil && f.err == nil {
		f.err = fmt.Errorf("%s: %w", name, err)
	}
	if f.err == nil && len(items) == 0 {
		f.err = fmt.Errorf("%s: an order has at least one line", name)
	}
	var sum int64
	for _, it := range items {
		if f.err == nil && (!web.ValidID(it.ProductID) || it.Qty < 1 || it.PriceCents < 1) {
			f.err = fmt.Errorf("%s: invalid line item %+v", name, it)
		}
		line, err := money.Mul(it.PriceCents, int64(it.Qty))
		if f.err == nil && err != nil {
			f.err = fmt.Errorf("%s: line item %+v: %w", name, it, err)
		}
		if sum += line; f.err == nil && sum > 1<<62 {
			f.err = fmt.Errorf("%s: the lines add up to too much", name)
		}
	}
	if f.err == nil && (amount < 1 || amount != sum) {
		f.err = fmt.Errorf("orderAmount %s is not the sum of the lines, %s", money.Format(amount), money.Format(sum))
	}
	return items
}

// OrderSnapshot is an order as the orders service has it now, in
// PostgreSQL, the system of record: what OrderPlaced said of it and its
// current status and payment. The orders service appends one for every
// order to OrderSnapshotsStream when the order history asks, so that the
// history can be rebuilt completely after Redis lost the streams or
// trimmed them (orderhistory.Service.Rebuild). A snapshot is signed like
// an OrderPlaced (OrderKey), with a signature of its own kind, over every
// field but none of the envelope's.
type OrderSnapshot struct {
	Order
	// Status is the order's current status; PaymentID is set when it is
	// a payment outcome, and only then.
	Status    Status
	PaymentID string
	// UpdatedOn is when the order last changed, and UpdatedBy who changed
	// it: the user who placed it, or "payments".
	UpdatedOn time.Time
	UpdatedBy string
}

// SnapshotPage says where a page of OrderSnapshots stands on
// OrderSnapshotsStream: the orders service appends a page when the order
// history asks (POST /orders/snapshots answers it as JSON), and the history
// reads the page's entries by range.
type SnapshotPage struct {
	// Orders is how many snapshots the page holds, one per order.
	Orders int `json:"orders"`
	// Stream is the stream they went to.
	Stream string `json:"stream"`
	// FirstEntryID and LastEntryID are the stream entry ids of the
	// page's first and last snapshot (XRANGE Stream FirstEntryID
	// LastEntryID reads the page); empty when Orders is 0.
	FirstEntryID string `json:"firstEntryId"`
	LastEntryID  string `json:"lastEntryId"`
	// Next is the after of the next page: the page's last order id, or
	// empty when this was the last page.
	Next string `json:"next"`
}

// Event encodes e for publishing, signed with k.
func (e OrderSnapshot) Event(k *OrderKey) stream.Event {
	f := e.Order.payload()
	f["orderStatusCode"] = strconv.Itoa(int(e.Status))
	f["paymentId"] = e.PaymentID
	f["updatedOn"] = e.UpdatedOn.UTC().Format(time.RFC3339Nano)
	f["updatedBy"] = e.UpdatedBy
	f[FieldSignature] = k.signSnapshot(e)
	return stream.Event{Type: TypeOrderSnapshot, Fields: f}
}

// ParseOrderSnapshot decodes and validates an OrderSnapshot message and
// checks its signature with k. A snapshot that orders cannot have written
// (see Order; a status it does not know; a payment
// without a payment outcome or an outcome without a payment) or that it
// did not sign is a permanent error.
func ParseOrderSnapshot(m stream.Message, k *OrderKey) (OrderSnapshot, error) {
	f := fields{m: m}
	e := OrderSnapshot{Order: f.order()}
	e.Status = Status(f.int("orderStatusCode"))
	if f.err == nil && !e.Status.known() {
		f.err = fmt.Errorf("orderStatusCode %d is not a status", e.Status)
	}
	if e.Status.Final() {
		e.PaymentID = f.id("paymentId")
	} else if e.PaymentID = m.Fields["paymentId"]; e.PaymentID != "" && f.err == nil {
		f.err = fmt.Errorf("paymentId %q of an order without a payment outcome", e.PaymentID)
	}
	e.UpdatedOn = f.time("updatedOn")
	e.UpdatedBy = f.id("updatedBy")
	if f.err == nil {
		f.err = k.verifySnapshot(e, m.Fields[FieldSignature])
	}
	return e, f.done(TypeOrderSnapshot)
}

// PaymentProcessed announces a payment's outcome on PaymentsStream.
type PaymentProcessed struct {
	OrderID     string
	PaymentID   string
	UserID      string
	Status      Status // StatusPaymentSuccess or StatusPaymentFail
	AmountCents int64
	// Reason explains a failure; empty on success.
	Reason string
}

// Event encodes e for publishing.
func (e PaymentProcessed) Event() stream.Event {
	return stream.Event{Type: TypePaymentProcessed, Fields: map[string]string{
		"orderId":         e.OrderID,
		"paymentId":       e.PaymentID,
		"orderStatusCode": strconv.Itoa(int(e.Status)),
		"userId":          e.UserID,
		"orderAmount":     money.Format(e.AmountCents),
		"reason":          e.Reason,
	}}
}

// ParsePaymentProcessed decodes and validates a PaymentProcessed message.
func ParsePaymentProcessed(m stream.Message) (PaymentProcessed, error) {
	f := fields{m: m}
	e := PaymentProcessed{
		OrderID:   f.id("orderId"),
		PaymentID: f.id("paymentId"),
		UserID:    f.id("userId"),
		Reason:    m.Fields["reason"],
	}
	e.Status = Status(f.int("orderStatusCode"))
	if f.err == nil && !e.Status.Final() {
		f.err = fmt.Errorf("orderStatusCode %d is not a payment outcome", e.Status)
	}
	if _, ok := m.Fields["orderAmount"]; ok {
		e.AmountCents = f.amount("orderAmount")
	}
	return e, f.done(TypePaymentProcessed)
}

// Actions on TransactionStream, as the tutorial's digital identity service
// names them.
const (
	ActionInsertLoginIdentity    = "INSERT_LOGIN_IDENTITY"
	ActionCalculateIdentityScore = "CALCULATE_IDENTITY_SCORE"
)

// LoginIdentityRecorded announces a new session's identity on
// TransactionStream.
type LoginIdentityRecorded struct {
	UserID    string
	SessionID string
	UserAgent string
	IP        string
}

// Event encodes e for publishing.
func (e LoginIdentityRecorded) Event() stream.Event {
	return stream.Event{Type: TypeLoginIdentityRecorded, Fields: map[string]string{
		"action":       ActionInsertLoginIdentity,
		"userId":       e.UserID,
		"sessionId":    e.SessionID,
		"browserAgent": e.UserAgent,
		"ipAddress":    e.IP,
	}}
}

// ParseLoginIdentityRecorded decodes and validates a LoginIdentityRecorded
// message.
func ParseLoginIdentityRecorded(m stream.Message) (LoginIdentityRecorded, error) {
	f := fields{m: m}
	e := LoginIdentityRecorded{
		UserID:    f.id("userId"),
		SessionID: f.id("sessionId"),
		UserAgent: m.Fields["browserAgent"],
		IP:        m.Fields["ipAddress"],
	}
	return e, f.done(TypeLoginIdentityRecorded)
}

// IdentityScored announces an order's identity score on TransactionStream.
type IdentityScored struct {
	OrderID string
	UserID  string
	// Score is the share of the checkout's characteristics that match one
	// of the user's login identities, in [0, 1].
	Score          float64
	PotentialFraud bool
}

// Event encodes e for publishing.
func (e IdentityScored) Event() stream.Event {
	return stream.Event{Type: TypeIdentityScored, Fields: map[string]string{
		"action":         ActionCalculateIdentityScore,
		"orderId":        e.OrderID,
		"userId":         e.UserID,
		"identityScore":  strconv.FormatFloat(e.Score, 'f', -1, 64),
		"potentialFraud": strconv.FormatBool(e.PotentialFraud),
	}}
}

// ParseIdentityScored decodes and validates an IdentityScored message.
func ParseIdentityScored(m stream.Message) (IdentityScored, error) {
	f := fields{m: m}
	e := IdentityScored{
		OrderID:        f.id("orderId"),
		UserID:         f.id("userId"),
		Score:          parse(&f, "identityScore", "a number in [0, 1]", parseShare),
		PotentialFraud: f.bool("potentialFraud"),
	}
	return e, f.done(TypeIdentityScored)
}

// parseShare parses a share of a whole, a number in [0, 1].
func parseShare(v string) (float64, error) {
	s, err := strconv.ParseFloat(v, 64)
	if err == nil && !(s >= 0 && s <= 1) { // NaN is in no range
		err = errOutOfRange
	}
	return s, err
}

// errOutOfRange is the error of a number outside the range of its field;
// parse says which.
var errOutOfRange = errors.New("out of range")

// ErrInvalid is wrapped by every Parse error.
var ErrInvalid = errors.New("invalid event")

// fields reads a message's fields, keeping the first error.
type fields struct {
	m   stream.Message
	err error
}

func (f *fields) required(name string) string {
	v := f.m.Fields[name]
	if v == "" && f.err == nil {
		f.err = fmt.Errorf("missing %s", name)
	}
	return v
}

// id reads a required field that must be an id (web.ValidID), as every
// id streamcart makes is.
func (f *fields) id(name string) string {
	v := f.required(name)
	if f.err == nil && !web.ValidID(v) {
		f.err = fmt.Errorf("%s %q is not an id", name, v)
	}
	return v
}

// parse reads the required field name with conv, which fails when the
// value is not what the field must be: what, in the error.
func parse[T any](f *fields, name, what string, conv func(string) (T, error)) T {
	var x T
	if v := f.required(name); f.err == nil {
		var err error
		if x, err = conv(v); err != nil {
			f.err = fmt.Errorf("%s %q is not %s", name, v, what)
		}
	}
	return x
}

func (f *fields) amount(name string) int64 { return parse(f, name, "an amount", money.Parse) }

func (f *fields) int(name string) int { return parse(f, name, "an integer", strconv.Atoi) }

func (f *fields) bool(name string) bool { return parse(f, name, "a boolean", strconv.ParseBool) }

func (f *fields) time(name string) time.Time {
	return parse(f, name, "an RFC 3339 time", func(v string) (time.Time, error) { return time.Parse(time.RFC3339Nano, v) })
}

// Version is the payload version of every event type this package knows.
// A consumer refuses an event of any other version (eventVersion in the
// envelope): it cannot know what the fields of a version it has never
// seen mean. A new version comes with a new parser here, deployed to the
// consumers before the producer writes it.
const Version = 1

// done returns the first error, wrapped with the event type and ErrInvalid
// and marked permanent: retrying cannot make a bad event good. An event of
// another type or another version than Version is bad too.
func (f *fields) done(typ string) error {
	if f.m.Type != typ && f.err == nil {
		f.err = fmt.Errorf("event type is %q", f.m.Type)
	}
	if f.m.Version != Version && f.err == nil {
		f.err = fmt.Errorf("eventVersion %d is not %d, the version this service reads", f.m.Version, Version)
	}
	if f.err == nil {
		return nil
	}
	return stream.Permanent(fmt.Errorf("%w %s %s: %w", ErrInvalid, typ, f.m.ID, f.err))
}

// OrderUpdatesChannel is the Redis Pub/Sub channel on which the order
// history service announces the changes to userID's orders that the
// shopper is to see (see package orderhistory), as the order's JSON
// history record, whose "userId" says whose it is. The gateway relays it
// to the shopper's browser (Server-Sent Events). Pub/Sub is
// fire-and-forget: a client that was not listening reads the history
// instead.
//
// The channel is one of OrderUpdateBuckets, chosen by a hash of the user
// id (OrderUpdateBucket), which the updates of other users share: a
// subscriber keeps what is the user's own by the record's userId. So a
// gateway on a Redis Cluster subscribes a bucket for all its shoppers in
// it, not a channel per shopper (decision 32).
//
// The channel carries the hash tag of the history's model ({model}), so
// that on a Redis Cluster it is in the model's slot: the merge script
// publishes with SPUBLISH (sharded Pub/Sub), which a script may do only
// on a channel of its own slot, and so in the order the records changed.
func OrderUpdatesChannel(userID string) string {
	return OrderUpdatesPrefix + strconv.Itoa(OrderUpdateBucket(userID))
}

// OrderUpdatesPrefix starts every OrderUpdatesChannel; the pattern
// OrderUpdatesPrefix + "*" matches them all.
const OrderUpdatesPrefix = "orderhistory:updates:{model}:"

// OrderUpdateBuckets is how many channels carry the order updates.
const OrderUpdateBuckets = 64

// OrderUpdateBucket is the bucket of userID's order updates: the 32-bit
// FNV-1a hash of the id modulo OrderUpdateBuckets.
func OrderUpdateBucket(userID string) int {
	h := fnv.New32a()
	h.Write([]byte(userID))
	return int(h.Sum32() % OrderUpdateBuckets)
}

// Placed is an OrderPlaced with the envelope fields its consumers keep: the
// event id, to dedupe on, and the trace context, to pass on.
type Placed struct {
	EventID     string
	TraceParent string
	Order       OrderPlaced
}

// ParsePlaced parses the OrderPlaced messages of a batch read from
// OrdersStream, as ParseAll does, checking their signatures with k.
func ParsePlaced(msgs []stream.Message, k *OrderKey) ([]Placed, error) {
	return ParseAll(msgs, TypeOrderPlaced, func(m stream.Message) (Placed, error) {
		o, err := ParseOrderPlaced(m, k)
		return Placed{EventID: m.ID, TraceParent: m.TraceParent, Order: o}, err
	})
}

// Answer returns the event that answer makes of the order of each event of
// batch, carrying that event's trace context, so that a trace follows the
// order from service to service.
func Answer(batch []Placed, answer func(OrderPlaced) stream.Event) []stream.Event {
	out := make([]stream.Event, len(batch))
	for i, p := range batch {
		out[i] = answer(p.Order)
		out[i].TraceParent = p.TraceParent
	}
	return out
}

// ParseAll parses the messages of type typ of a batch with parse, in
// order, skipping messages of other types. A message that parse fails
// fails the whole batch with its error, which the Parse functions make
// permanent: the consumer then hands the batch back one message at a time
// and dead-letters just that one.
func ParseAll[E any](msgs []stream.Message, typ string, parse func(stream.Message) (E, error)) ([]E, error) {
	out := make([]E, 0, len(msgs))
	for _, m := range msgs {
		if m.Type != typ {
			continue
		}
		e, err := parse(m)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
