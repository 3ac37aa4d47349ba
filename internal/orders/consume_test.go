package orders_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/events"
	"streamcart/internal/orders"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

// assertPayment checks the order's status and payment id, through the
// service and through the HTTP API.
func (e *env) assertPayment(t *testing.T, o orders.Order, status events.Status, paymentID string) {
	t.Helper()
	got := e.current(t, o)
	if got.Status != status || got.StatusName != status.String() || got.PaymentID != paymentID {
		t.Errorf("order %s is %d %s with payment %q, want %d %s with payment %q",
			o.ID, got.Status, got.StatusName, got.PaymentID, status, status, paymentID)
	}
	r := e.do(t, http.MethodGet, "/orders/"+o.ID, o.UserID, "", nil)
	if api := r.order(t); r.status != http.StatusOK || api.Status != status || api.PaymentID != paymentID {
		t.Errorf("GET /orders/%s = %d %s, want status %d and payment %q", o.ID, r.status, r.body, status, paymentID)
	}
}

func TestPaymentOutcomeMovesTheOrderForward(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	paid, declined := e.paidAndDeclined(t)

	e.assertPayment(t, paid, events.StatusPaymentSuccess, "pay-1")
	e.assertPayment(t, declined, events.StatusPaymentFail, "pay-2")
	servicetest.WantNoDeadLetters(t, e.rdb, e.cfg.PaymentsStream)
}

func TestLateEventsDoNotMoveAFinalOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	paid, declined := e.paidAndDeclined(t)
	before := map[string]orders.Order{paid.ID: e.current(t, paid), declined.ID: e.current(t, declined)}

	// Other outcomes, as new events: a second payment attempt's, or a
	// stale one arriving late.
	e.pay(t, outcome(paid, events.StatusPaymentFail, "pay-3"), "")
	e.pay(t, outcome(declined, events.StatusPaymentSuccess, "pay-4"), "")
	e.pay(t, outcome(paid, events.StatusPaymentSuccess, "pay-5"), "")
	e.paymentsHandled(t)

	e.assertPayment(t, paid, events.StatusPaymentSuccess, "pay-1")
	e.assertPayment(t, declined, events.StatusPaymentFail, "pay-2")
	for id, b := range before {
		if got := e.current(t, b); !got.UpdatedAt.Equal(b.UpdatedAt) || got.UpdatedBy != b.UpdatedBy {
			t.Errorf("order %s updated at %v by %s after late events, want untouched since %v by %s",
				id, got.UpdatedAt, got.UpdatedBy, b.UpdatedAt, b.UpdatedBy)
		}
	}
	// Late events are expected, not poison.
	servicetest.WantNoDeadLetters(t, e.rdb, e.cfg.PaymentsStream)
}

// TestAPaymentOutcomeDeliveredTwiceHasOneEffect delivers one payment
// outcome twice (testenv.Repeats): the same PaymentProcessed again, as
// the payments service's outbox does after a crash between publishing and
// committing, or a new event of the same outcome; in one batch, or in a
// later one.
func TestAPaymentOutcomeDeliveredTwiceHasOneEffect(t *testing.T) {
	t.Parallel()
	testenv.EachRepeat(t, func(t *testing.T, tt testenv.Repeat) {
		e := newEnv(t, nil)
		o := e.mustCreate(t, "u-1", cart(1, forSale(t, 1)...))
		ids := []string{stream.NewID()}
		if !tt.SameEvent {
			ids = append(ids, stream.NewID())
		}
		ev := outcome(o, events.StatusPaymentSuccess, "pay-1")
		e.pay(t, ev, ids[0])
		if !tt.SameBatch {
			e.start(t)
			e.paymentsHandled(t)
		}
		first := e.current(t, o)
		e.pay(t, ev, ids[len(ids)-1])
		if tt.SameBatch {
			e.start(t)
		}
		e.paymentsHandled(t)

		e.assertPayment(t, o, events.StatusPaymentSuccess, "pay-1")
		if !tt.SameBatch {
			if got := e.current(t, o); !got.UpdatedAt.Equal(first.UpdatedAt) {
				t.Errorf("order updated again at %v by the repeat, want only at %v", got.UpdatedAt, first.UpdatedAt)
			}
		}
		for _, id := range ids {
			if n := e.processed(t, id); n != 1 {
				t.Errorf("event %s recorded as processed %d times, want 1", id, n)
			}
		}
		servicetest.WantNoDeadLetters(t, e.rdb, e.cfg.PaymentsStream)
	})
}

// processed returns how often the service recorded eventID as processed.
func (e *env) processed(t *testing.T, eventID string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(),
		`SELECT count(*) FROM orders.processed_events WHERE event_id = $1`, eventID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPaymentForAnUnknownOrderIsDeadLetteredAndOthersGoOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, 2)
	a := e.mustCreate(t, "u-1", cart(1, ps[0]))
	b := e.mustCreate(t, "u-2", cart(1, ps[1]))
	ghost := orders.Order{ID: stream.NewID(), UserID: "u-3", AmountCents: 100}
	// All three are on the stream before the consumer starts, so its
	// first read is one batch.
	e.pay(t, outcome(a, events.StatusPaymentSuccess, "pay-a"), "")
	ghostEntry := e.pay(t, outcome(ghost, events.StatusPaymentSuccess, "pay-ghost"), "")
	e.pay(t, outcome(b, events.StatusPaymentFail, "pay-b"), "")
	e.start(t)
	e.paymentsHandled(t)

	e.assertPayment(t, a, events.StatusPaymentSuccess, "pay-a")
	e.assertPayment(t, b, events.StatusPaymentFail, "pay-b")
	dl := servicetest.DeadLetters(t, e.rdb, e.cfg.PaymentsStream)
	if len(dl) != 1 || dl[0].OriginID != ghostEntry || dl[0].Fields["orderId"] != ghost.ID || dl[0].Error == "" {
		t.Errorf("dead letters = %+v; want one, of entry %s for order %s, with the reason", dl, ghostEntry, ghost.ID)
	}
}

// finals is orders.Metrics that counts the final statuses reported.
type finals struct {
	mu     sync.Mutex
	counts map[string]int
}

func (f *finals) Final(status string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[status] += n
}

func (f *finals) Republished(int)    {}
func (f *finals) CatalogLookups(int) {}

func TestEachOrderIsCountedFinalOnce(t *testing.T) {
	t.Parallel()
	counted := &finals{counts: map[string]int{}}
	e := newEnv(t, func(cfg *orders.Config) { cfg.Metrics = counted })
	ps := forSale(t, 2)
	paid := e.mustCreate(t, "u-1", cart(1, ps[0]))
	declined := e.mustCreate(t, "u-1", cart(1, ps[1]))
	// Two outcomes of one order in one batch (an OrderPlaced the
	// reconciler republished was answered twice), and one event twice.
	e.pay(t, outcome(paid, events.StatusPaymentSuccess, "pay-1"), "")
	e.pay(t, outcome(paid, events.StatusPaymentSuccess, "pay-1"), "")
	twice := stream.NewID()
	e.pay(t, outcome(declined, events.StatusPaymentFail, "pay-2"), twice)
	e.pay(t, outcome(declined, events.StatusPaymentFail, "pay-2"), twice)
	e.start(t)
	e.paymentsHandled(t)
	// A late outcome of a final order.
	e.pay(t, outcome(paid, events.StatusPaymentFail, "pay-3"), "")
	e.paymentsHandled(t)

	counted.mu.Lock()
	defer counted.mu.Unlock()
	want := map[string]int{"PAYMENT_SUCCESS": 1, "PAYMENT_FAIL": 1}
	if diff := cmp.Diff(want, counted.counts); diff != "" {
		t.Errorf("final statuses counted (-want +got):\n%s", diff)
	}
}
