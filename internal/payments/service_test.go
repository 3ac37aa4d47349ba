package payments_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/outbox"
	"streamcart/internal/payments"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one test's service setup: its database, the shared Redis and
// the orders that the orders service has (servicetest.Consumer), and the
// service's Config, with fresh stream names.
type env struct {
	servicetest.Consumer
	cfg payments.Config
}

// start runs a Service until the test ends.
func (e *env) start(t *testing.T) *payments.Service {
	return servicetest.Start(t, e.Consumer, payments.NewService, e.cfg)
}

// newEnv migrates pool and names the test's streams.
func newEnv(t *testing.T, pool *pgxpool.Pool) *env {
	t.Helper()
	c := servicetest.NewConsumer(t, pool, payments.Migrate)
	return &env{Consumer: c, cfg: payments.Config{
		OrderKey: orderKey, Orders: c.Orders,
		OrdersStream: testenv.Name(t, "orders"), PaymentsStream: testenv.Name(t, "payments"),
		ServiceConfig: outbox.ServiceConfig{Outbox: outbox.Config{Poll: 50 * time.Millisecond}},
	}}
}

// orderKey signs the OrderPlaced events of these tests and checks them in
// the service, as the orders service's key does in a deployment.
var orderKey = servicetest.OrderKey()

// order returns a valid OrderPlaced of amount cents.
func order(id string, cents int64) events.OrderPlaced {
	return events.OrderPlaced{Order: events.Order{
		OrderID:     id,
		UserID:      "u-" + id,
		AmountCents: cents,
		Items:       []events.LineItem{{ProductID: "p-00001", Qty: 1, PriceCents: max(cents, 1)}},
		CreatedOn:   time.Now(),
	}}
}

// publish appends ev to the orders stream and returns its entry id. The
// order of a good OrderPlaced is stored first (Consumer.Publish).
func (e *env) publish(t *testing.T, ev stream.Event) string {
	t.Helper()
	return e.Publish(t, e.cfg.OrdersStream, ev)[0]
}

// publishUnstored is publish without storing any order.
func (e *env) publishUnstored(t *testing.T, ev stream.Event) string {
	t.Helper()
	return e.PublishUnstored(t, e.cfg.OrdersStream, ev)[0]
}

// drained waits until the service has acknowledged (or dead-lettered)
// every entry of the orders stream and relayed its outbox.
func (e *env) drained(t *testing.T, timeout time.Duration) {
	t.Helper()
	testenv.WaitFor(t, timeout, "orders stream handled and outbox relayed", func() bool {
		return testenv.Handled(t.Context(), e.Redis, payments.Group, e.cfg.OrdersStream) && testenv.Empty(t.Context(), e.Pool, "payments.outbox")
	})
}

// payments returns every payment row, by order id.
func (e *env) payments(t *testing.T) []payments.Payment {
	t.Helper()
	rows, err := e.Pool.Query(t.Context(), `SELECT payment_id, order_id, user_id, amount_cents, status, reason, created_at
		FROM payments.payments ORDER BY order_id`)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (payments.Payment, error) {
		var (
			p      payments.Payment
			status int16
		)
		err := row.Scan(&p.ID, &p.OrderID, &p.UserID, &p.AmountCents, &status, &p.Reason, &p.CreatedAt)
		p.Status = events.Status(status)
		return p, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// announced returns the PaymentProcessed events on the payments stream,
// in stream order.
func (e *env) announced(t *testing.T) []events.PaymentProcessed {
	t.Helper()
	var out []events.PaymentProcessed
	for _, m := range testenv.Entries(t, e.Redis, e.cfg.PaymentsStream, stream.Decode) {
		p, err := events.ParsePaymentProcessed(m)
		if err != nil {
			t.Fatalf("payments stream entry %s: %v", m.EntryID, err)
		}
		out = append(out, p)
	}
	return out
}

// announcement returns the PaymentProcessed that announces p.
func announcement(p payments.Payment) events.PaymentProcessed {
	return events.PaymentProcessed{
		OrderID: p.OrderID, PaymentID: p.ID, UserID: p.UserID,
		Status: p.Status, AmountCents: p.AmountCents, Reason: p.Reason,
	}
}

var (
	ignoreIDAndTime = cmpopts.IgnoreFields(payments.Payment{}, "ID", "CreatedAt")
	byOrder         = cmpopts.SortSlices(func(a, b events.PaymentProcessed) bool { return a.OrderID < b.OrderID })
)

const limitReason = "amount exceeds the payment limit of 1000.00"

func TestPaysEachOrderOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Pool(t))
	const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	amounts := []int64{3999, 100_000, 100_001, 1, 2_500_000, 1250}
	var want []payments.Payment
	for i, cents := range amounts {
		o := order(fmt.Sprintf("o-%d", i), cents)
		ev := o.Event(orderKey)
		ev.TraceParent = traceParent
		e.publish(t, ev)
		status, reason := events.StatusPaymentSuccess, ""
		if cents > 100_000 {
			status, reason = events.StatusPaymentFail, limitReason
		}
		want = append(want, payments.Payment{OrderID: o.OrderID, UserID: o.UserID, AmountCents: cents, Status: status, Reason: reason})
	}
	// Not an OrderPlaced: acknowledged and ignored, not dead-lettered.
	e.publish(t, stream.Event{Type: "OrderCancelled", Fields: map[string]string{"orderId": "o-0"}})
	// Everything was published before the start, so the consumer's first
	// read is one batch.
	e.start(t)
	e.drained(t, 10*time.Second)

	got := e.payments(t)
	if diff := cmp.Diff(want, got, ignoreIDAndTime); diff != "" {
		t.Errorf("payments (-want +got):\n%s", diff)
	}
	// created_at defaults to now(), the transaction's start time: a single
	// value means the batch was paid in a single transaction.
	for _, p := range got {
		if !p.CreatedAt.Equal(got[0].CreatedAt) {
			t.Errorf("payment of %s created at %v, of %s at %v; want one transaction for the batch",
				p.OrderID, p.CreatedAt, got[0].OrderID, got[0].CreatedAt)
		}
	}
	var wantAnnounced []events.PaymentProcessed
	for _, p := range got {
		wantAnnounced = append(wantAnnounced, announcement(p))
		if len(p.ID) != 36 || p.ID[14] != '7' {
			t.Errorf("payment id %q of order %s is not a UUIDv7", p.ID, p.OrderID)
		}
	}
	if diff := cmp.Diff(wantAnnounced, e.announced(t), byOrder); diff != "" {
		t.Errorf("PaymentProcessed events (-want +got):\n%s", diff)
	}
	servicetest.WantTraceParent(t, e.Redis, e.cfg.PaymentsStream, events.TypePaymentProcessed, traceParent)
	servicetest.WantNoDeadLetters(t, e.Redis, e.cfg.OrdersStream)
}

// TestOnePaymentPerOrder delivers an order's OrderPlaced twice: the same
// event again (a redelivery), or a new event for the same order (the
// orders service re-publishing it), in the same batch or a later one.
func TestOnePaymentPerOrder(t *testing.T) {
	t.Parallel()
	testenv.EachRepeat(t, func(t *testing.T, tt testenv.Repeat) {
		e := newEnv(t, testenv.Pool(t))
		first := order("o-1", 5000).Event(orderKey)
		first.ID = stream.NewID()
		second := first
		if !tt.SameEvent {
			// Another event id, for the same order.
			second = order("o-1", 5000).Event(orderKey)
		}
		e.publish(t, first)
		if !tt.SameBatch {
			e.start(t)
			e.drained(t, 10*time.Second)
		}
		e.publish(t, second)
		if tt.SameBatch {
			e.start(t)
		}
		e.drained(t, 10*time.Second)

		want := []payments.Payment{{OrderID: "o-1", UserID: "u-o-1", AmountCents: 5000, Status: events.StatusPaymentSuccess}}
		got := e.payments(t)
		if diff := cmp.Diff(want, got, ignoreIDAndTime); diff != "" {
			t.Fatalf("payments (-want +got):\n%s", diff)
		}
		var wantAnnounced []events.PaymentProcessed
		for range tt.Events() { // each event is answered with the one payment
			wantAnnounced = append(wantAnnounced, announcement(got[0]))
		}
		if diff := cmp.Diff(wantAnnounced, e.announced(t)); diff != "" {
			t.Errorf("PaymentProcessed events (-want +got):\n%s", diff)
		}
	})
}

// TestAnOrderPlacedThatOrdersDidNotWriteIsDeadLetteredAndNeverPaid
// appends, between two good orders and so in their batch, OrderPlaced
// events that the orders service did not write (unsigned, signed with
// another secret, changed after signing) or could not have written (no
// orderId, an unknown eventVersion, no lines, a zero amount): each goes
// to the dead-letter stream at once, on its first delivery, saying why,
// and none is paid.
func TestAnOrderPlacedThatOrdersDidNotWriteIsDeadLetteredAndNeverPaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Pool(t))
	otherKey, err := events.NewOrderKey([]byte("not the orders service's secret, 32+ bytes"))
	if err != nil {
		t.Fatal(err)
	}
	unsigned := order("o-unsigned", 1000).Event(orderKey)
	delete(unsigned.Fields, events.FieldSignature)
	raised := order("o-raised", 1000).Event(orderKey)
	raised.Fields["orderAmount"], raised.Fields["products"] = "0.01", `[{"productId":"p-00001","qty":1,"priceCents":1}]`
	version99 := order("o-v99", 1000).Event(orderKey)
	version99.Version = 99
	noLines := order("o-nolines", 0)
	noLines.Items = nil
	zero := order("o-zero", 0)
	zero.Items[0].PriceCents = 0
	noID := order("o-noid", 1000).Event(orderKey)
	delete(noID.Fields, "orderId")
	invalid := events.ErrInvalid.Error()
	bad := []struct {
		name    string
		ev      stream.Event
		wantErr string // in the dead letter's error
	}{
		{"unsigned", unsigned, invalid},
		{"signed with another key", order("o-forged", 1000).Event(otherKey), invalid},
		{"amount changed", raised, invalid},
		{"no orderId", noID, "missing orderId"},
		{"eventVersion 99", version99, invalid},
		{"no lines", noLines.Event(orderKey), invalid},
		{"zero amount", zero.Event(orderKey), invalid},
	}

	e.publish(t, order("o-1", 1000).Event(orderKey))
	badIDs := map[string]int{} // entry id -> case
	for i, b := range bad {
		badIDs[e.publish(t, b.ev)] = i
	}
	e.publish(t, order("o-9", 9000).Event(orderKey))
	e.start(t)
	e.drained(t, 10*time.Second)

	want := []payments.Payment{
		{OrderID: "o-1", UserID: "u-o-1", AmountCents: 1000, Status: events.StatusPaymentSuccess},
		{OrderID: "o-9", UserID: "u-o-9", AmountCents: 9000, Status: events.StatusPaymentSuccess},
	}
	if diff := cmp.Diff(want, e.payments(t), ignoreIDAndTime); diff != "" {
		t.Errorf("payments (-want +got):\n%s", diff)
	}
	if n := len(e.announced(t)); n != 2 {
		t.Errorf("%d PaymentProcessed events, want 2", n)
	}
	for _, d := range servicetest.DeadLetters(t, e.Redis, e.cfg.OrdersStream) {
		i, ok := badIDs[d.OriginID]
		if !ok {
			t.Errorf("dead letter of entry %s, which is not one of the bad ones", d.OriginID)
			continue
		}
		delete(badIDs, d.OriginID)
		if b := bad[i]; d.Attempts != 1 || !strings.Contains(d.Error, b.wantErr) {
			t.Errorf("%s: dead-lettered after %d attempts with %q, want at once with %q", b.name, d.Attempts, d.Error, b.wantErr)
		}
	}
	for id, i := range badIDs {
		t.Errorf("%s (entry %s) was not dead-lettered", bad[i].name, id)
	}
}

// TestAnOrderThatOrdersDoesNotHaveIsDeadLetteredAndNeverPaid appends,
// between good orders, validly signed OrderPlaced events of an order that
// the orders service never stored and of stored orders with another
// amount or user than orders has: each goes to the dead-letter stream at
// once, saying why, and is never paid, while the good events of the same
// batch, the real events of those orders among them, are paid.
func TestAnOrderThatOrdersDoesNotHaveIsDeadLetteredAndNeverPaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Pool(t))
	otherAmount, otherUser := order("o-2", 2000), order("o-3", 3000)
	e.Orders.Add(otherAmount, otherUser)
	cheaper, stolen := order("o-2", 1999), otherUser
	stolen.UserID = "u-mallory"
	bad := map[string]struct {
		ev   stream.Event
		want error
	}{
		"never stored":   {order("o-unknown", 1000).Event(orderKey), ordercheck.ErrUnknown},
		"another amount": {cheaper.Event(orderKey), ordercheck.ErrMismatch},
		"another user":   {stolen.Event(orderKey), ordercheck.ErrMismatch},
	}

	e.publish(t, order("o-1", 1000).Event(orderKey))
	badIDs := map[string]string{} // entry id -> case
	for name, b := range bad {
		badIDs[e.publishUnstored(t, b.ev)] = name
	}
	e.publishUnstored(t, otherAmount.Event(orderKey))
	e.publishUnstored(t, otherUser.Event(orderKey))
	e.publish(t, order("o-9", 9000).Event(orderKey))
	e.start(t) // everything in the consumer's first read: one batch
	e.drained(t, 10*time.Second)

	want := []payments.Payment{
		{OrderID: "o-1", UserID: "u-o-1", AmountCents: 1000, Status: events.StatusPaymentSuccess},
		{OrderID: "o-2", UserID: "u-o-2", AmountCents: 2000, Status: events.StatusPaymentSuccess},
		{OrderID: "o-3", UserID: "u-o-3", AmountCents: 3000, Status: events.StatusPaymentSuccess},
		{OrderID: "o-9", UserID: "u-o-9", AmountCents: 9000, Status: events.StatusPaymentSuccess},
	}
	if diff := cmp.Diff(want, e.payments(t), ignoreIDAndTime); diff != "" {
		t.Errorf("payments (-want +got):\n%s", diff)
	}
	if n := len(e.announced(t)); n != len(want) {
		t.Errorf("%d PaymentProcessed events, want %d", n, len(want))
	}
	for _, d := range servicetest.DeadLetters(t, e.Redis, e.cfg.OrdersStream) {
		name, ok := badIDs[d.OriginID]
		if !ok {
			t.Errorf("dead letter of entry %s, which is not one of the bad ones: %s", d.OriginID, d.Error)
			continue
		}
		delete(badIDs, d.OriginID)
		if d.Attempts != 1 || !strings.Contains(d.Error, bad[name].want.Error()) {
			t.Errorf("%s: dead-lettered after %d attempts with %q, want at once with %q", name, d.Attempts, d.Error, bad[name].want)
		}
	}
	for id, name := range badIDs {
		t.Errorf("%s (entry %s) was not dead-lettered", name, id)
	}
}

// unreachableOrders is a Lookup that cannot answer while down is set, as
// the orders service when it is unreachable, and counts its calls.
type unreachableOrders struct {
	*ordercheck.Known
	down  atomic.Bool
	calls atomic.Int64
}

func (u *unreachableOrders) Lookup(ctx context.Context, ids []string) (map[string]ordercheck.Order, error) {
	u.calls.Add(1)
	if u.down.Load() {
		return nil, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	}
	return u.Known.Lookup(ctx, ids)
}

// TestWaitsForTheOrdersServiceWhenItCannotAnswer: while the orders service
// cannot say whether an order exists, its OrderPlaced is neither paid nor
// dead-lettered, but retried; once orders answers, it is paid.
func TestWaitsForTheOrdersServiceWhenItCannotAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Pool(t))
	orders := &unreachableOrders{Known: e.Orders}
	orders.down.Store(true)
	e.cfg.Orders = orders
	e.cfg.Consumer.MaxDeliveries = 1 // a failure that counted would dead-letter at once
	e.publish(t, order("o-1", 1000).Event(orderKey))
	e.start(t)
	testenv.WaitFor(t, 10*time.Second, "orders asked three times", func() bool { return orders.calls.Load() >= 3 })
	if ps := e.payments(t); len(ps) != 0 {
		t.Fatalf("paid %+v while orders could not answer", ps)
	}
	orders.down.Store(false)
	e.drained(t, 10*time.Second)
	if ps := e.payments(t); len(ps) != 1 {
		t.Errorf("payments %+v once orders answers, want o-1's", ps)
	}
	servicetest.WantNoDeadLetters(t, e.Redis, e.cfg.OrdersStream)
}

// TestWaitsOutDatabaseOutage publishes orders while PostgreSQL is down,
// lets the consumer fail and retry, then brings the database back.
func TestWaitsOutDatabaseOutage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pg := testenv.OwnPostgres(t)
	pool, err := postgres.Open(ctx, pg.URL("postgres"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := newEnv(t, pool)
	// A short handler timeout makes the consumer itself retry during the
	// outage, not just the handler.
	e.cfg.Consumer.HandlerTimeout = 2 * time.Second
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	const n = 3
	for i := range n {
		e.publish(t, order(fmt.Sprintf("o-%d", i), int64(i+1)*100).Event(orderKey))
	}
	// Each retry claims the entries back, which restarts their idle time
	// but, for an outage, does not count a delivery.
	var lastIdle time.Duration
	retries := 0
	testenv.WaitFor(t, 10*time.Second, "the batch retried twice", func() bool {
		p, err := e.Redis.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: e.cfg.OrdersStream, Group: payments.Group, Start: "-", End: "+", Count: n,
		}).Result()
		if err != nil || len(p) != n {
			return false
		}
		if p[0].RetryCount != 1 {
			t.Fatalf("an outage counted %d deliveries, want 1", p[0].RetryCount)
		}
		if p[0].Idle < lastIdle {
			retries++
		}
		lastIdle = p[0].Idle
		return retries >= 2
	})
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	e.drained(t, 15*time.Second)

	got := e.payments(t)
	if len(got) != n {
		t.Errorf("%d payments after the outage, want %d: %+v", len(got), n, got)
	}
	var want []events.PaymentProcessed
	for _, p := range got {
		want = append(want, announcement(p))
	}
	if diff := cmp.Diff(want, e.announced(t), byOrder); diff != "" {
		t.Errorf("PaymentProcessed events (-want +got):\n%s", diff)
	}
	servicetest.WantNoDeadLetters(t, e.Redis, e.cfg.OrdersStream)
}

func TestConsumerLogsWithTheServiceLogger(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Pool(t))
	e.cfg.Consumer.Logger = slog.New(slog.DiscardHandler) // as a caller with only a root logger would
	var out testenv.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil)).With("service", "payments")
	svc, err := payments.NewService(e.Pool, e.Redis, e.cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, svc.Run)
	testenv.WaitFor(t, 10*time.Second, "the consumer's start logged by the service's logger", func() bool {
		return strings.Contains(out.String(), `msg="consumer started" service=payments`)
	})
}
