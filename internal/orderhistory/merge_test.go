package orderhistory_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/events"
	"streamcart/internal/orderhistory"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

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
