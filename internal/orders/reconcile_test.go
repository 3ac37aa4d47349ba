package orders_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/events"
	"streamcart/internal/orders"
	"streamcart/internal/platform/testenv"
)

// stuck is longer than the tests' StuckAfter of an hour.
const stuck = 2 * time.Hour

// reconcile runs Reconcile and fails the test unless it republishes want
// orders.
func (e *env) reconcile(t *testing.T, want int) {
	t.Helper()
	n, err := e.svc.Reconcile(t.Context())
	if err != nil || n != want {
		t.Fatalf("Reconcile() = %d, %v; want %d, nil", n, err, want)
	}
}

// assertPlaced checks that the orders stream has n OrderPlaced events of
// o, each with its own event id and all with the same content.
func (e *env) assertPlaced(t *testing.T, o orders.Order, n int) {
	t.Helper()
	got := e.placedFor(t, o.ID)
	if len(got) != n {
		t.Fatalf("order %s has %d OrderPlaced on the orders stream, want %d", o.ID, len(got), n)
	}
	ids := map[string]bool{}
	for _, p := range got {
		if ids[p.eventID] {
			t.Errorf("order %s has two OrderPlaced with event id %s, want a new id each time", o.ID, p.eventID)
		}
		ids[p.eventID] = true
		if diff := cmp.Diff(got[0].OrderPlaced, p.OrderPlaced, sameTimes); diff != "" {
			t.Errorf("OrderPlaced %s of order %s differs from the first (-first +this):\n%s", p.eventID, o.ID, diff)
		}
	}
}

func TestReconcileRepublishesOrdersLeftUnpaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start(t)
	ps := forSale(t, 2)
	late := e.mustCreate(t, "u-1", cart(1, ps[0]))
	recent := e.mustCreate(t, "u-1", cart(2, ps[1]))
	e.relayed(t)

	e.age(t, stuck, late.ID)
	e.reconcile(t, 1)
	e.relayed(t)

	e.assertPlaced(t, late, 2)
	e.assertPlaced(t, recent, 1)
	if got := e.current(t, late); got.Status != events.StatusCreated {
		t.Errorf("republished order is %s, want still CREATED", got.StatusName)
	}
}

func TestReconcileNeverRepublishesFinalOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	paid, declined := e.paidAndDeclined(t)
	unpaid := e.mustCreate(t, "u-1", cart(1, forSale(t, 3)[2]))
	e.relayed(t)

	e.age(t, stuck, paid.ID, declined.ID, unpaid.ID)
	e.reconcile(t, 1)
	e.relayed(t)

	e.assertPlaced(t, paid, 1)
	e.assertPlaced(t, declined, 1)
	e.assertPlaced(t, unpaid, 2)
}

func TestReconcileWaitsStuckAfterBeforeRepublishingAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start(t)
	o := e.mustCreate(t, "u-1", cart(1, forSale(t, 1)...))

	e.reconcile(t, 0) // just placed
	e.age(t, stuck, o.ID)
	e.reconcile(t, 1)
	e.reconcile(t, 0) // just republished
	e.age(t, e.cfg.StuckAfter-time.Minute, o.ID)
	e.reconcile(t, 0) // not quite StuckAfter yet
	e.age(t, stuck, o.ID)
	e.reconcile(t, 1)
	e.relayed(t)

	e.assertPlaced(t, o, 3)
}

func TestConcurrentReconcilesRepublishEachOrderOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start(t)
	ps := forSale(t, 30)
	var all []orders.Order
	var ids []string
	for _, p := range ps {
		o := e.mustCreate(t, "u-1", cart(1, p))
		all, ids = append(all, o), append(ids, o.ID)
	}
	// Replicas, each with its own Service, reconciling at the same moment,
	// several rounds.
	replicas := []*orders.Service{e.svc, e.newService(t), e.newService(t), e.newService(t)}
	const rounds = 3
	for round := range rounds {
		e.age(t, stuck, ids...)
		counts := make([]int, len(replicas))
		errs := make([]error, len(replicas))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, svc := range replicas {
			wg.Go(func() {
				<-start
				counts[i], errs[i] = svc.Reconcile(t.Context())
			})
		}
		close(start)
		wg.Wait()
		total := 0
		for i := range replicas {
			if errs[i] != nil {
				t.Fatalf("round %d: replica %d: Reconcile: %v", round+1, i, errs[i])
			}
			total += counts[i]
		}
		if total != len(all) {
			t.Errorf("round %d: replicas republished %v orders, %d in all; want %d in all", round+1, counts, total, len(all))
		}
	}
	e.relayed(t)
	for _, o := range all {
		e.assertPlaced(t, o, 1+rounds)
	}
}

// TestReconcilerRunsOnItsOwn runs the service with a short StuckAfter and
// checks that an unpaid order's OrderPlaced is written again without
// anyone calling Reconcile.
func TestReconcilerRunsOnItsOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *orders.Config) {
		cfg.StuckAfter = 200 * time.Millisecond
		cfg.ReconcileInterval = 50 * time.Millisecond
	})
	e.start(t)
	o := e.mustCreate(t, "u-1", cart(1, forSale(t, 1)...))
	testenv.WaitFor(t, waitLong, "OrderPlaced republished", func() bool {
		return len(e.placedFor(t, o.ID)) >= 2
	})
	got := e.placedFor(t, o.ID)
	if got[0].eventID == got[1].eventID || !cmp.Equal(got[0].OrderPlaced, got[1].OrderPlaced, sameTimes) {
		t.Errorf("republished OrderPlaced = %+v, want the first %+v with a new event id", got[1], got[0])
	}
}
