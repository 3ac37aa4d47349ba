package ops

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/events"
)

// TestJourneyStepsFromTheOwnersAnswers puts answers together as the page
// does, at a fixed now, and checks each step's state and time taken.
func TestJourneyStepsFromTheOwnersAnswers(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := t0.Add(d); return &t }
	ms := time.Millisecond
	placed := &ordersAnswer{Status: events.StatusCreated, StatusName: "CREATED", CreatedAt: t0, PublishedAt: at(4 * ms)}
	settled := &ordersAnswer{Status: events.StatusPaymentSuccess, StatusName: "PAYMENT_SUCCESS", CreatedAt: t0, PublishedAt: at(4 * ms), StatusAppliedAt: at(30 * ms)}
	paid := &paymentAnswer{StatusName: "PAYMENT_SUCCESS", CreatedAt: *at(10 * ms)}
	shown := &historyAnswer{Status: events.StatusPaymentSuccess, StatusName: "PAYMENT_SUCCESS", StatusAt: at(20 * ms)}

	type step struct {
		State string
		Took  time.Duration // -1: none
	}
	tests := []struct {
		name string
		a    answers
		now  time.Time
		want []step
		took time.Duration
	}{
		{"complete: the history before orders, both timed from the payment",
			answers{orders: settled, payment: paid, history: shown}, *at(time.Second),
			[]step{{stepDone, -1}, {stepDone, 4 * ms}, {stepDone, 6 * ms}, {stepDone, 20 * ms}, {stepDone, 10 * ms}}, 30 * ms},
		{"waiting for the payment, in time",
			answers{orders: placed}, *at(10 * time.Second),
			[]step{{stepDone, -1}, {stepDone, 4 * ms}, {stepPending, -1}, {stepPending, -1}, {stepPending, -1}}, 0},
		{"waiting for the payment for too long",
			answers{orders: placed}, *at(time.Minute),
			[]step{{stepDone, -1}, {stepDone, 4 * ms}, {stepOverdue, -1}, {stepPending, -1}, {stepPending, -1}}, 0},
		{"not yet published, and the owners of later steps do not answer",
			answers{orders: &ordersAnswer{StatusName: "CREATED", CreatedAt: t0}, paymentErr: errors.New("answered 503"), histErr: errors.New("timeout")}, *at(time.Second),
			[]step{{stepDone, -1}, {stepPending, -1}, {stepUnavailable, -1}, {stepPending, -1}, {stepUnavailable, -1}}, 0},
		{"placed before publishing was recorded, shown before recording it",
			answers{orders: &ordersAnswer{Status: events.StatusPaymentSuccess, StatusName: "PAYMENT_SUCCESS", CreatedAt: t0, StatusAppliedAt: at(30 * ms)},
				payment: paid, history: &historyAnswer{Status: events.StatusPaymentSuccess}}, *at(time.Hour),
			[]step{{stepDone, -1}, {stepUnrecorded, -1}, {stepDone, 10 * ms}, {stepDone, 20 * ms}, {stepUnrecorded, -1}}, 30 * ms},
		{"the history has the order, not yet its outcome",
			answers{orders: settled, payment: paid, history: &historyAnswer{Status: events.StatusCreated, StatusAt: at(5 * ms)}}, *at(40 * time.Second),
			[]step{{stepDone, -1}, {stepDone, 4 * ms}, {stepDone, 6 * ms}, {stepDone, 20 * ms}, {stepOverdue, -1}}, 0},
	}
	for _, tt := range tests {
		j := buildJourney("o-1", tt.a, tt.now, 30*time.Second)
		var got []step
		for _, s := range j.Steps {
			took := time.Duration(-1)
			if s.HasTook {
				took = s.Took
			}
			got = append(got, step{s.State, took})
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: steps (-want +got):\n%s", tt.name, diff)
		}
		if j.Took != tt.took || j.Complete() != (tt.took > 0) {
			t.Errorf("%s: took %v, complete %v; want %v", tt.name, j.Took, j.Complete(), tt.took)
		}
	}
}
