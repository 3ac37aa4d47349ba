package events

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/stream"
)

// roundTrip turns an Event into the Message a consumer would receive.
func roundTrip(e stream.Event) stream.Message {
	e.ID = "evt-1"
	return stream.Message{Event: e}
}

func TestRoundTrips(t *testing.T) {
	created := time.Date(2026, 11, 25, 21, 0, 0, 123, time.UTC)
	placed := OrderPlaced{
		OrderID: "o-1", UserID: "u-1", AmountCents: 11997, CreatedOn: created,
		Items:     []LineItem{{ProductID: "p-1", Qty: 3, PriceCents: 3999}},
		UserAgent: "Mozilla/5.0", IP: "127.0.0.1",
	}
	gotPlaced, err := ParseOrderPlaced(roundTrip(placed.Event()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(placed, gotPlaced); diff != "" {
		t.Errorf("OrderPlaced round trip (-want +got):\n%s", diff)
	}
	if f := placed.Event().Fields; f["orderAmount"] != "119.97" || f["orderId"] != "o-1" || f["userId"] != "u-1" {
		t.Errorf("OrderPlaced fields = %v, want the tutorial's orderId, orderAmount, userId", f)
	}

	paid := PaymentProcessed{OrderID: "o-1", PaymentID: "pay-1", UserID: "u-1", Status: StatusPaymentSuccess, AmountCents: 11997}
	gotPaid, err := ParsePaymentProcessed(roundTrip(paid.Event()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(paid, gotPaid); diff != "" {
		t.Errorf("PaymentProcessed round trip (-want +got):\n%s", diff)
	}

	login := LoginIdentityRecorded{UserID: "u-1", SessionID: "s-1", UserAgent: "ua", IP: "127.0.0.1"}
	gotLogin, err := ParseLoginIdentityRecorded(roundTrip(login.Event()))
	if err != nil || gotLogin != login {
		t.Errorf("LoginIdentityRecorded round trip = %+v, %v", gotLogin, err)
	}

	scored := IdentityScored{OrderID: "o-1", UserID: "u-1", Score: 0.5, PotentialFraud: true}
	gotScored, err := ParseIdentityScored(roundTrip(scored.Event()))
	if err != nil || gotScored != scored {
		t.Errorf("IdentityScored round trip = %+v, %v", gotScored, err)
	}
}

func TestParseRejectsBadEvents(t *testing.T) {
	good := PaymentProcessed{OrderID: "o", PaymentID: "p", UserID: "u", Status: StatusPaymentFail}.Event()
	tests := []struct {
		name   string
		change func(f map[string]string)
	}{
		{"missing order id", func(f map[string]string) { delete(f, "orderId") }},
		{"status not final", func(f map[string]string) { f["orderStatusCode"] = "1" }},
		{"status not a number", func(f map[string]string) { f["orderStatusCode"] = "paid" }},
		{"bad amount", func(f map[string]string) { f["orderAmount"] = "1,00" }},
	}
	for _, tt := range tests {
		e := good
		e.Fields = map[string]string{}
		for k, v := range good.Fields {
			e.Fields[k] = v
		}
		tt.change(e.Fields)
		_, err := ParsePaymentProcessed(roundTrip(e))
		if !errors.Is(err, ErrInvalid) || !stream.IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent ErrInvalid", tt.name, err)
		}
	}
	wrongType := good
	wrongType.Type = TypeOrderPlaced
	if _, err := ParsePaymentProcessed(roundTrip(wrongType)); err == nil {
		t.Error("ParsePaymentProcessed accepted an OrderPlaced")
	}
	badItems := OrderPlaced{OrderID: "o", UserID: "u", AmountCents: 1, CreatedOn: time.Now(), Items: []LineItem{{ProductID: "p", Qty: 0, PriceCents: 1}}}
	if _, err := ParseOrderPlaced(roundTrip(badItems.Event())); err == nil {
		t.Error("ParseOrderPlaced accepted qty 0")
	}
}

func TestStatusRank(t *testing.T) {
	order := []Status{StatusDraft, StatusCreated, StatusPending, StatusPaymentInitiated, StatusPaymentSuccess}
	for i := 1; i < len(order); i++ {
		if order[i-1].Rank() >= order[i].Rank() {
			t.Errorf("%v does not rank below %v", order[i-1], order[i])
		}
	}
	if StatusPaymentFail.Rank() != StatusPaymentSuccess.Rank() || !StatusPaymentFail.Final() {
		t.Error("PAYMENT_FAIL must be final and rank with PAYMENT_SUCCESS")
	}
}
