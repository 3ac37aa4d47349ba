package events

import (
	"maps"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/stream"
)

// goodSnapshot is a paid order's OrderSnapshot that passes every check.
func goodSnapshot() OrderSnapshot {
	p := goodPlaced()
	return OrderSnapshot{
		Order:  p.Order,
		Status: StatusPaymentSuccess, PaymentID: "pay-1",
		UpdatedOn: p.CreatedOn.Add(1500 * time.Millisecond), UpdatedBy: "payments",
	}
}

func TestAnOrderSnapshotRoundTrips(t *testing.T) {
	t.Parallel()
	unpaid := goodSnapshot()
	unpaid.Status, unpaid.PaymentID, unpaid.UpdatedBy = StatusCreated, "", unpaid.UserID
	for _, want := range []OrderSnapshot{goodSnapshot(), unpaid} {
		got, err := ParseOrderSnapshot(roundTrip(want.Event(testKey)), testKey)
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("OrderSnapshot round trip (-want +got):\n%s", diff)
		}
	}
}

// TestAnOrderSnapshotNotSignedByOrdersOrNotAnOrderIsRefusedForGood checks
// that only a snapshot orders can have written and signed parses: changed
// after signing, signed as an OrderPlaced, or with a payload orders never
// writes, it is a permanent error.
func TestAnOrderSnapshotNotSignedByOrdersOrNotAnOrderIsRefusedForGood(t *testing.T) {
	t.Parallel()
	good := goodSnapshot().Event(testKey)
	changed := func(change func(f map[string]string)) stream.Event {
		e := good
		e.Fields = maps.Clone(good.Fields)
		change(e.Fields)
		return e
	}
	resigned := func(change func(s *OrderSnapshot)) stream.Event {
		s := goodSnapshot()
		change(&s)
		return s.Event(testKey)
	}
	// An OrderPlaced's signature of the same order must not pass for a
	// snapshot's: the two kinds are signed apart.
	placedSig := goodPlaced().Event(testKey).Fields[FieldSignature]
	tests := []struct {
		name  string
		event stream.Event
	}{
		{"unsigned", changed(without(FieldSignature))},
		{"signed with another key", goodSnapshot().Event(must(NewOrderKey([]byte("another secret of at least 32 bytes"))))},
		{"signed as an OrderPlaced", changed(func(f map[string]string) { f[FieldSignature] = placedSig })},
		{"status changed", changed(with("orderStatusCode", "-4"))},
		{"payment changed", changed(with("paymentId", "pay-2"))},
		{"update time changed", changed(with("updatedOn", "2030-01-01T00:00:00Z"))},
		{"updater changed", changed(with("updatedBy", "u-2"))},
		{"user changed", changed(with("userId", "u-2"))},
		{"unknown status", resigned(func(s *OrderSnapshot) { s.Status = 7 })},
		{"final without a payment", resigned(func(s *OrderSnapshot) { s.PaymentID = "" })},
		{"a payment but not final", resigned(func(s *OrderSnapshot) { s.Status = StatusCreated })},
		{"amount is not the sum of the lines", resigned(func(s *OrderSnapshot) { s.AmountCents++ })},
		{"no lines", resigned(func(s *OrderSnapshot) { s.Items, s.AmountCents = nil, 0 })},
		{"no updater", resigned(func(s *OrderSnapshot) { s.UpdatedBy = "" })},
	}
	for _, tt := range tests {
		_, err := ParseOrderSnapshot(roundTrip(tt.event), testKey)
		wantInvalid(t, tt.name, err)
	}
	// Nor does a snapshot's signature pass for an OrderPlaced.
	placed := goodPlaced().Event(testKey)
	placed.Fields = maps.Clone(placed.Fields)
	placed.Fields[FieldSignature] = good.Fields[FieldSignature]
	if _, err := ParseOrderPlaced(roundTrip(placed), testKey); err == nil {
		t.Error("an OrderPlaced with a snapshot's signature parsed")
	}
}
