package orderhistory_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/orderhistory"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one test's setup: fresh stream names and key prefix on the shared
// Redis, and a publisher.
type env struct {
	rdb    redis.UniversalClient
	pub    *stream.Publisher
	cfg    orderhistory.Config
	svc    *orderhistory.Service
	orders *fakeOrders
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, testenv.Redis(t))
}

// orderKey signs the OrderPlaced events of these tests and checks them in
// the service, as the orders service's key does in a deployment.
var orderKey = servicetest.OrderKey()

// newEnvOn is newEnv on the Redis of rdb.
func newEnvOn(t *testing.T, rdb redis.UniversalClient) *env {
	t.Helper()
	pub := stream.NewPublisher(rdb, nil)
	orders := &fakeOrders{pub: pub, stream: testenv.Name(t, "snapshots"), pageSize: 3}
	e := &env{
		rdb:    rdb,
		pub:    pub,
		orders: orders,
		cfg: orderhistory.Config{
			OrderKey:          orderKey,
			KeyPrefix:         testenv.Name(t, "oh") + ":",
			OrdersStream:      testenv.Name(t, "orders"),
			PaymentsStream:    testenv.Name(t, "payments"),
			TransactionStream: testenv.Name(t, "tx"),
			Snapshots:         orders,
			Orders:            orders,
			SnapshotsStream:   orders.stream,
			CheckInterval:     100 * time.Millisecond,
		},
	}
	svc, err := orderhistory.NewService(rdb, e.cfg, testenv.Logger(t))
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	e.svc = svc
	return e
}

// running returns a new env whose service runs until the test ends.
func running(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.start(t)
	return e
}

// anOrder returns a new user and an order of theirs, placed at base.
func anOrder(t *testing.T) (user string, o order) {
	t.Helper()
	user = testenv.Name(t, "u")
	return user, newOrder(user+"-o", user, base)
}

// start runs the service until the test ends, and waits until its first
// check has made the model complete.
func (e *env) start(t *testing.T) {
	t.Helper()
	testenv.Run(t, e.svc.Run)
	e.waitComplete(t)
}

// waitComplete waits until the model is known to be complete.
func (e *env) waitComplete(t *testing.T) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, "the order history complete", func() bool {
		return e.svc.Complete(t.Context()) == nil
	})
}

// fakeOrders is the orders service of these tests, the system of record
// of the orders put in it: it publishes their snapshots as orders does,
// pageSize a page, in order id order. While gate is not nil, each call
// for snapshots waits until gate is closed. As a Lookup it knows the
// orders put in it and those of the OrderPlaced events that env.publish
// published. It is safe for concurrent use.
type fakeOrders struct {
	ordercheck.Known
	pub      *stream.Publisher
	stream   string
	pageSize int

	mu     sync.Mutex
	orders map[string]events.OrderSnapshot
	gate   chan struct{}
	calls  int
}

// put makes the fake hold each of os, replacing an order of the same id.
func (f *fakeOrders) put(os ...events.OrderSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.orders == nil {
		f.orders = map[string]events.OrderSnapshot{}
	}
	for _, o := range os {
		f.orders[o.OrderID] = o
		f.Add(events.OrderPlaced{Order: o.Order})
	}
}

// hold makes later calls wait until the returned function is called.
func (f *fakeOrders) hold() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gate := make(chan struct{})
	f.gate = gate
	return sync.OnceFunc(func() {
		f.mu.Lock()
		f.gate = nil
		f.mu.Unlock()
		close(gate)
	})
}

// callCount returns how many pages were asked for.
func (f *fakeOrders) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// PublishSnapshots implements orderhistory.Snapshotter.
func (f *fakeOrders) PublishSnapshots(ctx context.Context, after string) (events.SnapshotPage, error) {
	f.mu.Lock()
	f.calls++
	gate := f.gate
	var page []events.OrderSnapshot
	for _, o := range f.orders {
		if o.OrderID > after {
			page = append(page, o)
		}
	}
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return events.SnapshotPage{}, ctx.Err()
		}
	}
	slices.SortFunc(page, func(a, b events.OrderSnapshot) int { return strings.Compare(a.OrderID, b.OrderID) })
	out := events.SnapshotPage{Stream: f.stream}
	if len(page) > f.pageSize {
		page = page[:f.pageSize]
		out.Next = page[len(page)-1].OrderID
	}
	for i, o := range page {
		id, err := f.pub.Publish(ctx, f.stream, o.Event(orderKey))
		if err != nil {
			return events.SnapshotPage{}, err
		}
		if i == 0 {
			out.FirstEntryID = id
		}
		out.LastEntryID = id
	}
	out.Orders = len(page)
	return out, nil
}

// streamOf returns the stream an event of type typ goes to.
func (e *env) streamOf(typ string) string {
	switch typ {
	case events.TypeOrderPlaced:
		return e.cfg.OrdersStream
	case events.TypePaymentProcessed:
		return e.cfg.PaymentsStream
	default:
		return e.cfg.TransactionStream
	}
}

// publish appends evs, each to its stream. The orders of good
// OrderPlaced events are stored first, as the orders service stores an
// order before it publishes it.
func (e *env) publish(t *testing.T, evs ...stream.Event) {
	t.Helper()
	e.orders.AddPublished(orderKey, evs...)
	e.publishUnstored(t, evs...)
}

// publishUnstored is publish without storing any order.
func (e *env) publishUnstored(t *testing.T, evs ...stream.Event) {
	t.Helper()
	for _, ev := range evs {
		if _, err := e.pub.Publish(t.Context(), e.streamOf(ev.Type), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// settle waits until the service has acknowledged every entry of its three
// streams, and checks that it dead-lettered none.
func (e *env) settle(t *testing.T) {
	t.Helper()
	e.settleWith(t, 0)
}

// settleWith is settle for a test that expects dead letters, in all.
func (e *env) settleWith(t *testing.T, deadLetters int64) {
	t.Helper()
	streams := []string{e.cfg.OrdersStream, e.cfg.PaymentsStream, e.cfg.TransactionStream}
	testenv.WaitFor(t, 10*time.Second, "every entry acknowledged", func() bool {
		return testenv.Handled(t.Context(), e.rdb, orderhistory.Group, streams...)
	})
	var n int64
	for _, s := range streams {
		n += e.rdb.XLen(t.Context(), stream.DeadLetterStream(s)).Val()
	}
	if n != deadLetters {
		var all []stream.DeadLetter
		for _, s := range streams {
			all = append(all, servicetest.DeadLetters(t, e.rdb, s)...)
		}
		t.Fatalf("%d dead letters, want %d: %+v", n, deadLetters, all)
	}
}

// publishSettled publishes each event and waits until it is applied, so
// that the service sees them in exactly this order.
func (e *env) publishSettled(t *testing.T, evs ...stream.Event) {
	t.Helper()
	for _, ev := range evs {
		e.publish(t, ev)
		e.settle(t)
	}
}

// get returns a record that must exist.
func (e *env) get(t *testing.T, userID, orderID string) orderhistory.Record {
	t.Helper()
	r, err := e.svc.Get(t.Context(), userID, orderID)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", userID, orderID, err)
	}
	return r
}

// base is the time the test orders are placed around.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// order is the data behind one test order's events.
type order struct {
	id, user  string
	created   time.Time
	items     []events.LineItem
	paymentID string
	status    events.Status
	score     float64
	fraud     bool
}

func newOrder(id, user string, created time.Time) order {
	return order{
		id:        id,
		user:      user,
		created:   created,
		items:     []events.LineItem{{ProductID: "p-1", Qty: 2, PriceCents: 1250}, {ProductID: "p-2", Qty: 1, PriceCents: 999}},
		paymentID: "pay-" + id,
		status:    events.StatusPaymentSuccess,
		score:     0.75,
	}
}

// event is what o's events say of it.
func (o order) event() events.Order {
	return events.Order{OrderID: o.id, UserID: o.user, AmountCents: o.amount(), Items: o.items, CreatedOn: o.created}
}

func (o order) amount() int64 {
	var n int64
	for _, it := range o.items {
		n += int64(it.Qty) * it.PriceCents
	}
	return n
}

// The events of an order, with fixed ids and times so that the same
// event can be published again: placed at creation, paid a second later,
// scored two seconds later.
func (o order) placed() stream.Event {
	ev := events.OrderPlaced{Order: o.event()}.Event(orderKey)
	ev.ID, ev.Time = o.id+"-placed", o.created
	return ev
}

func (o order) paid() stream.Event {
	ev := events.PaymentProcessed{OrderID: o.id, PaymentID: o.paymentID, UserID: o.user, Status: o.status, AmountCents: o.amount()}.Event()
	ev.ID, ev.Time = o.id+"-paid", o.created.Add(time.Second)
	return ev
}

func (o order) scored() stream.Event {
	ev := events.IdentityScored{OrderID: o.id, UserID: o.user, Score: o.score, PotentialFraud: o.fraud}.Event()
	ev.ID, ev.Time = o.id+"-scored", o.created.Add(2*time.Second)
	return ev
}

// snapshot is o as the orders service has it once paid (or declined).
func (o order) snapshot() events.OrderSnapshot {
	return events.OrderSnapshot{
		Order:  o.event(),
		Status: o.status, PaymentID: o.paymentID, UpdatedOn: o.created.Add(1500 * time.Millisecond), UpdatedBy: "payments",
	}
}

// record is the record of o once all three events are applied.
func (o order) record() orderhistory.Record {
	created := o.created
	score := o.score
	return orderhistory.Record{
		OrderID:        o.id,
		UserID:         o.user,
		Status:         o.status,
		StatusName:     o.status.String(),
		AmountCents:    o.amount(),
		PaymentID:      o.paymentID,
		Items:          o.items,
		CreatedOn:      &created,
		CreatedBy:      o.user,
		LastUpdatedOn:  o.created.Add(2 * time.Second),
		LastUpdatedBy:  "identity",
		IdentityScore:  &score,
		PotentialFraud: o.fraud,
	}
}

// subscribe subscribes to userID's updates channel and returns a function
// that waits for the next record of userID published on it (the channel
// is shared with other users).
func subscribe(t *testing.T, rdb redis.UniversalClient, userID string) func() orderhistory.Record {
	t.Helper()
	ps := rdb.Subscribe(t.Context(), events.OrderUpdatesChannel(userID))
	t.Cleanup(func() { _ = ps.Close() })
	// The first reply confirms the subscription: later publishes reach us.
	if _, err := ps.ReceiveTimeout(t.Context(), 5*time.Second); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return func() orderhistory.Record {
		t.Helper()
		for {
			msg, err := ps.ReceiveTimeout(t.Context(), 5*time.Second)
			if err != nil {
				t.Fatalf("no update on %s: %v", events.OrderUpdatesChannel(userID), err)
			}
			m, ok := msg.(*redis.Message)
			if !ok {
				t.Fatalf("got %T on the updates channel, want a message", msg)
			}
			var r orderhistory.Record
			if err := json.Unmarshal([]byte(m.Payload), &r); err != nil {
				t.Fatalf("update %s: %v", m.Payload, err)
			}
			if r.UserID == userID {
				return r
			}
		}
	}
}
