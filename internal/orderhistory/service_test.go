package orderhistory_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/orderhistory"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

func TestHappyPath(t *testing.T) {
	t.Parallel()
	e := running(t)
	user := testenv.Name(t, "u")
	var orders []order
	for i := range 3 {
		o := newOrder(fmt.Sprintf("%s-o%d", user, i), user, base.Add(time.Duration(i)*time.Minute))
		o.score = float64(i) / 3
		o.fraud = i == 0
		orders = append(orders, o)
	}
	orders[1].status = events.StatusPaymentFail
	// A login on the transaction stream, which the history ignores.
	login := events.LoginIdentityRecorded{UserID: user, SessionID: "s-1", UserAgent: "test", IP: "127.0.0.1"}.Event()
	e.publish(t, login)
	for _, o := range orders {
		e.publish(t, o.placed(), o.paid(), o.scored())
	}
	e.settle(t)

	got, err := e.svc.List(t.Context(), user, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []orderhistory.Record{orders[2].record(), orders[1].record(), orders[0].record()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if got[0].Status != events.StatusPaymentSuccess || got[0].StatusName != "PAYMENT_SUCCESS" {
		t.Errorf("newest order has status %v %q, want PAYMENT_SUCCESS", got[0].Status, got[0].StatusName)
	}
	got, err = e.svc.List(t.Context(), user, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:2], got); diff != "" {
		t.Errorf("List with limit 2 (-want +got):\n%s", diff)
	}
}

func TestArrivalOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		order []string // "placed", "paid", "scored"
	}{
		{"in order", []string{"placed", "paid", "scored"}},
		{"payment first", []string{"paid", "placed", "scored"}},
		{"score first, then payment", []string{"scored", "paid", "placed"}},
		{"score first, then order", []string{"scored", "placed", "paid"}},
		{"order last", []string{"paid", "scored", "placed"}},
		{"payment last", []string{"placed", "scored", "paid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := running(t)
			user, o := anOrder(t)
			byName := map[string]stream.Event{"placed": o.placed(), "paid": o.paid(), "scored": o.scored()}
			for _, n := range tt.order {
				e.publishSettled(t, byName[n])
			}
			if diff := cmp.Diff(o.record(), e.get(t, user, o.id)); diff != "" {
				t.Errorf("record after %v (-want +got):\n%s", tt.order, diff)
			}
			list, err := e.svc.List(t.Context(), user, 10)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]orderhistory.Record{o.record()}, list); diff != "" {
				t.Errorf("List after %v (-want +got):\n%s", tt.order, diff)
			}
		})
	}
}

// TestPaymentBeforeOrder checks what is shown of an order known only from
// its payment, and that the order arriving later does not lower its status.
func TestPaymentBeforeOrder(t *testing.T) {
	t.Parallel()
	e := running(t)
	user, older := anOrder(t)
	paidFirst := newOrder(user+"-paid-first", user, base.Add(time.Hour))
	e.publishSettled(t, older.placed(), paidFirst.paid())

	want := orderhistory.Record{
		OrderID:       paidFirst.id,
		UserID:        user,
		Status:        events.StatusPaymentSuccess,
		StatusName:    "PAYMENT_SUCCESS",
		AmountCents:   paidFirst.amount(), // from the payment
		PaymentID:     paidFirst.paymentID,
		Items:         []events.LineItem{},
		LastUpdatedOn: paidFirst.created.Add(time.Second),
		LastUpdatedBy: "payments",
	}
	list, err := e.svc.List(t.Context(), user, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("List returned %d orders, want 2: %+v", len(list), list)
	}
	if diff := cmp.Diff(want, list[0]); diff != "" {
		t.Errorf("order known from its payment, listed first by the payment's time (-want +got):\n%s", diff)
	}

	e.publishSettled(t, paidFirst.placed())
	got := e.get(t, user, paidFirst.id)
	if got.Status != events.StatusPaymentSuccess || got.CreatedOn == nil || !got.CreatedOn.Equal(paidFirst.created) {
		t.Errorf("after the late OrderPlaced: status %v, createdOn %v; want PAYMENT_SUCCESS, %v", got.Status, got.CreatedOn, paidFirst.created)
	}
	if len(got.Items) != 2 || got.LastUpdatedBy != "payments" {
		t.Errorf("after the late OrderPlaced: items %v, lastUpdatedBy %q; want 2 items, payments", got.Items, got.LastUpdatedBy)
	}
}

func TestUpdatesArePublished(t *testing.T) {
	t.Parallel()
	e := running(t)
	user, o := anOrder(t)
	next := subscribe(t, e.rdb, user)
	o.score = 1.0 / 3 // a float that needs all its digits

	for _, ev := range []stream.Event{o.paid(), o.placed(), o.scored()} {
		e.publish(t, ev)
		update := next()
		if diff := cmp.Diff(e.get(t, user, o.id), update); diff != "" {
			t.Errorf("update after %s differs from Get (-get +update):\n%s", ev.Type, diff)
		}
	}
	if diff := cmp.Diff(o.record(), e.get(t, user, o.id)); diff != "" {
		t.Errorf("final record (-want +got):\n%s", diff)
	}
}

func TestUsersSeeOnlyTheirOrders(t *testing.T) {
	t.Parallel()
	e := running(t)
	alice, bob := testenv.Name(t, "alice"), testenv.Name(t, "bob")
	o := newOrder(alice+"-o", alice, base)
	e.publish(t, o.placed(), o.paid())
	e.settle(t)

	list, err := e.svc.List(t.Context(), bob, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("bob's list has %d orders, want none: %+v", len(list), list)
	}
	if _, err := e.svc.Get(t.Context(), bob, o.id); !errors.Is(err, orderhistory.ErrNotFound) {
		t.Errorf("bob's Get of alice's order: err %v, want ErrNotFound", err)
	}
	if _, err := e.svc.Get(t.Context(), alice, "no-such-order"); !errors.Is(err, orderhistory.ErrNotFound) {
		t.Errorf("Get of a missing order: err %v, want ErrNotFound", err)
	}
}

// TestAnOrderThatOrdersDoesNotHaveIsNeverShown publishes validly signed
// OrderPlaced events of an order that the orders service never stored and
// of a stored order with another amount or user than orders has: each is
// dead-lettered and shown to no one, while the good order after them is.
func TestAnOrderThatOrdersDoesNotHaveIsNeverShown(t *testing.T) {
	t.Parallel()
	e := running(t)
	alice, mallory := testenv.Name(t, "alice"), testenv.Name(t, "mallory")
	unknown, stored, good := newOrder(alice+"-unknown", alice, base), newOrder(alice+"-stored", alice, base), newOrder(alice+"-good", alice, base)
	e.orders.put(stored.snapshot())
	cheaper, stolen := stored, stored
	cheaper.items = stored.items[:1]
	stolen.user = mallory
	e.publishUnstored(t, unknown.placed(), cheaper.placed(), stolen.placed())
	e.publish(t, good.placed())
	e.settleWith(t, 3)

	for _, user := range []string{alice, mallory} {
		list, err := e.svc.List(t.Context(), user, 10)
		if err != nil {
			t.Fatal(err)
		}
		var want []orderhistory.Record
		if user == alice {
			want = []orderhistory.Record{e.get(t, alice, good.id)}
		}
		if diff := cmp.Diff(want, list, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s's list (-want +got):\n%s", user, diff)
		}
	}
	letters, err := stream.DeadLetters(t.Context(), e.rdb, stream.DeadLetterStream(e.cfg.OrdersStream), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range letters {
		if !strings.Contains(d.Error, ordercheck.ErrUnknown.Error()) && !strings.Contains(d.Error, ordercheck.ErrMismatch.Error()) {
			t.Errorf("dead letter of %s says %q, want that orders does not have the order", d.OriginID, d.Error)
		}
	}
}

// TestEventOfAnotherUser checks that an event naming another user than
// the order's record is dead-lettered and does not touch the record, and
// that the events around it, which may be merged in the same run of the
// script, are applied.
func TestEventOfAnotherUser(t *testing.T) {
	t.Parallel()
	e := running(t)
	alice, mallory := testenv.Name(t, "alice"), testenv.Name(t, "mallory")
	o := newOrder(alice+"-o", alice, base)
	other := newOrder(alice+"-other", alice, base)
	e.publishSettled(t, o.placed(), other.placed())
	before := e.get(t, alice, o.id)

	forged := o
	forged.user = mallory
	e.publish(t, forged.scored(), other.scored())
	dlq := stream.DeadLetterStream(e.cfg.TransactionStream)
	testenv.WaitFor(t, 10*time.Second, "the forged event dead-lettered", func() bool {
		return e.rdb.XLen(t.Context(), dlq).Val() == 1
	})
	if diff := cmp.Diff(before, e.get(t, alice, o.id)); diff != "" {
		t.Errorf("record changed (-before +after):\n%s", diff)
	}
	testenv.WaitFor(t, 10*time.Second, "the other order scored", func() bool {
		return e.get(t, alice, other.id).IdentityScore != nil
	})
	if _, err := e.svc.Get(t.Context(), mallory, o.id); !errors.Is(err, orderhistory.ErrNotFound) {
		t.Errorf("mallory's Get: err %v, want ErrNotFound", err)
	}
}

func TestConfigValidateNamesTheBadField(t *testing.T) {
	t.Parallel()
	orders := &fakeOrders{}
	tests := []testenv.ConfigCase[orderhistory.Config]{
		{Name: "defaults", Config: orderhistory.Config{OrderKey: orderKey, Snapshots: orders, Orders: orders}},
		{Name: "streams set", Config: orderhistory.Config{OrderKey: orderKey, Snapshots: orders, Orders: orders, OrdersStream: "a", PaymentsStream: "b", TransactionStream: "c", SnapshotsStream: "d", CheckInterval: time.Second}},
		{Name: "same stream twice", Config: orderhistory.Config{OrderKey: orderKey, Snapshots: orders, Orders: orders, OrdersStream: "a", PaymentsStream: "a"}, WantField: "PaymentsStream"},
		{Name: "snapshots on a consumed stream", Config: orderhistory.Config{OrderKey: orderKey, Snapshots: orders, Orders: orders, SnapshotsStream: events.OrdersStream}, WantField: "SnapshotsStream"},
		{Name: "negative check interval", Config: orderhistory.Config{OrderKey: orderKey, Snapshots: orders, Orders: orders, CheckInterval: -time.Second}, WantField: "CheckInterval"},
		{Name: "consumer stream set", Config: orderhistory.Config{OrderKey: orderKey, Snapshots: orders, Orders: orders, Consumer: stream.Config{Stream: "x"}}, WantField: "Consumer.Stream"},
		{Name: "consumer dead-letter stream set", Config: orderhistory.Config{OrderKey: orderKey, Snapshots: orders, Orders: orders, Consumer: stream.Config{DeadLetterStream: "x"}}, WantField: "Consumer.DeadLetterStream"},
		{Name: "bad consumer timing", Config: orderhistory.Config{OrderKey: orderKey, Snapshots: orders, Orders: orders, Consumer: stream.Config{MinIdle: -time.Second}}, WantField: "Consumer"},
		{Name: "no order key", Config: orderhistory.Config{Snapshots: orders, Orders: orders}, WantField: "OrderKey"},
		{Name: "no snapshots", Config: orderhistory.Config{OrderKey: orderKey, Orders: orders}, WantField: "Snapshots"},
		{Name: "no orders", Config: orderhistory.Config{OrderKey: orderKey, Snapshots: orders}, WantField: "Orders"},
	}
	testenv.CheckConfigs(t, tests, orderhistory.Config.Validate, func(cfg orderhistory.Config) error {
		_, err := orderhistory.NewService(nil, cfg, testenv.Logger(t))
		return err
	})
}

func TestNewServiceRequiresALogger(t *testing.T) {
	t.Parallel()
	svc, err := orderhistory.NewService(nil, orderhistory.Config{OrderKey: orderKey}, nil)
	if err == nil || svc != nil || !strings.Contains(err.Error(), "a logger is required") {
		t.Errorf("NewService with a nil logger = %v, %v; want an error that a logger is required", svc, err)
	}
}

func TestListRejectsABadLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, limit := range []int{0, -1, orderhistory.MaxLimit + 1} {
		if _, err := e.svc.List(t.Context(), "u", limit); errs.KindOf(err) != errs.KindInvalid {
			t.Errorf("List(limit %d) error = %v, want an Invalid error", limit, err)
		}
	}
}

// message is ev as a consumer of its stream receives it.
func (e *env) message(t *testing.T, ev stream.Event) stream.Message {
	t.Helper()
	if err := ev.Normalize(); err != nil {
		t.Fatal(err)
	}
	return stream.Message{Event: ev, Stream: e.streamOf(ev.Type), EntryID: fmt.Sprintf("%d-0", ev.Time.UnixMilli()), Deliveries: 1}
}

// complete makes the model of an env that is not running complete (a
// rebuild of nothing), so that its readers answer.
func (e *env) complete(t *testing.T) {
	t.Helper()
	if err := e.svc.Rebuild(t.Context()); err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
}

// TestMergeIsIndependentOfOrderAndRepeats merges the three events of an
// order in each of their six orders, with repeats of several kinds, one
// event per run of the merge script and all in one run. Every case ends
// in the same record, stored fields included. The updates announced are
// those the shopper needs, never one for a repeat: the first event's
// (which makes the record, CREATED or final), the payment's (the final
// status), and each event's that comes after the payment (its score, or
// its items); the last update is the record.
func TestMergeIsIndependentOfOrderAndRepeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.complete(t)
	user := testenv.Name(t, "u")
	next := subscribe(t, e.rdb, user)

	const placed, paid, scored, republished = 0, 1, 2, 3
	orders := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	repeats := []struct {
		name string
		of   func(p [3]int) []int
	}{
		{"once", func(p [3]int) []int { return p[:] }},
		{"the first again at the end", func(p [3]int) []int { return []int{p[0], p[1], p[2], p[0]} }},
		{"each twice in a row", func(p [3]int) []int { return []int{p[0], p[0], p[1], p[1], p[2], p[2]} }},
		{"all again backwards", func(p [3]int) []int { return []int{p[0], p[1], p[2], p[2], p[1], p[0]} }},
		// orders publishes an OrderPlaced again (its reconciler): another
		// event id, the same order.
		{"the order published again first", func(p [3]int) []int { return []int{republished, p[0], p[1], p[2]} }},
		{"the order published again last", func(p [3]int) []int { return []int{p[0], p[1], p[2], republished} }},
	}
	announcements := func(seq []int) int {
		n, seen, final := 0, map[int]bool{}, false
		for _, i := range seq {
			if i == republished {
				i = placed
			}
			if !seen[i] && (len(seen) == 0 || i == paid || final) {
				n++
			}
			seen[i] = true
			final = final || i == paid
		}
		return n
	}
	// The stored fields of the first case of each set of events, without
	// the merge's clock (statusAt), the order's id standing for itself.
	want := map[bool]map[string]string{}
	n := 0
	for _, order := range orders {
		for _, rep := range repeats {
			for _, oneRun := range []bool{false, true} {
				n++
				o := newOrder(fmt.Sprintf("%s-o%03d", user, n), user, base)
				again := o.placed()
				again.ID = o.id + "-placed-again"
				evs := []stream.Event{placed: o.placed(), paid: o.paid(), scored: o.scored(), republished: again}
				seq := rep.of(order)
				name := fmt.Sprintf("%v %s, one run %v", seq, rep.name, oneRun)

				var runs [][]stream.Message
				for _, i := range seq {
					m := e.message(t, evs[i])
					if oneRun && len(runs) > 0 {
						runs[0] = append(runs[0], m)
					} else {
						runs = append(runs, []stream.Message{m})
					}
				}
				announced := 0
				for _, run := range runs {
					a, err := e.svc.MergeBatch(t.Context(), run)
					if err != nil {
						t.Fatalf("%s: merge: %v", name, err)
					}
					announced += a
				}
				record := e.get(t, user, o.id)
				if diff := cmp.Diff(o.record(), record); diff != "" {
					t.Errorf("%s: record (-want +got):\n%s", name, diff)
				}
				if want := announcements(seq); announced != want {
					t.Errorf("%s: %d updates announced, want %d", name, announced, want)
				}
				var last orderhistory.Record
				for range announced {
					if last = next(); last.OrderID != o.id {
						t.Fatalf("%s: an update of %s, want one of %s", name, last.OrderID, o.id)
					}
				}
				if diff := cmp.Diff(record, last); diff != "" {
					t.Errorf("%s: last update differs from the record (-record +update):\n%s", name, diff)
				}

				stored, err := e.svc.Stored(t.Context(), o.id)
				if err != nil {
					t.Fatal(err)
				}
				if stored["statusAt"] == "" {
					t.Errorf("%s: no statusAt stored", name)
				}
				delete(stored, "statusAt")
				for k, v := range stored { // the order's id is in its events' ids and its payment's
					stored[k] = strings.ReplaceAll(v, o.id, "<order>")
				}
				withAgain := seq[0] == republished || seq[len(seq)-1] == republished
				if want[withAgain] == nil {
					want[withAgain] = stored
				} else if diff := cmp.Diff(want[withAgain], stored); diff != "" {
					t.Errorf("%s: stored fields differ from the first case's (-first +got):\n%s", name, diff)
				}
			}
		}
	}
	if got := want[true]["placedVersion"]; got == want[false]["placedVersion"] {
		t.Errorf("the order published again did not win placedVersion: %q", got)
	}
}

// TestMergeRefusesOnlyTheEventOfAnotherUser merges, in one run of the
// script, an order's events with a score that names another user than
// the order's in the middle: that one is refused, and changes nothing of
// the record, which the events around it build as without it.
func TestMergeRefusesOnlyTheEventOfAnotherUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.complete(t)
	alice, mallory := testenv.Name(t, "alice"), testenv.Name(t, "mallory")
	o := newOrder(alice+"-o", alice, base)
	forged := o
	forged.user = mallory
	forged.score = 0.01

	_, err := e.svc.MergeBatch(t.Context(), []stream.Message{e.message(t, o.placed()), e.message(t, forged.scored()), e.message(t, o.paid())})
	if !stream.IsPermanent(err) {
		t.Errorf("merge with a forged score: %v, want a permanent error", err)
	}
	want := o.record()
	want.IdentityScore, want.LastUpdatedOn, want.LastUpdatedBy = nil, o.created.Add(time.Second), "payments"
	if diff := cmp.Diff(want, e.get(t, alice, o.id)); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if _, err := e.svc.Get(t.Context(), mallory, o.id); !errors.Is(err, orderhistory.ErrNotFound) {
		t.Errorf("mallory's Get: %v, want ErrNotFound", err)
	}

	// A record that does not decode refuses its events, as a plain error
	// (retried, then dead-lettered), and the others are applied.
	broken := newOrder(alice+"-b", alice, base)
	if err := e.rdb.HSet(t.Context(), e.svc.BucketKey(broken.id), broken.id, "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	fine := newOrder(alice+"-f", alice, base)
	_, err = e.svc.MergeBatch(t.Context(), []stream.Message{e.message(t, broken.paid()), e.message(t, fine.placed())})
	if err == nil || stream.IsPermanent(err) {
		t.Errorf("merge into a corrupt record: %v, want a plain error", err)
	}
	if got := e.get(t, alice, fine.id); got.Status != events.StatusCreated {
		t.Errorf("the order merged with the corrupt one: %+v, want it CREATED", got)
	}
}
