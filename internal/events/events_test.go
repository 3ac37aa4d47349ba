package events

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/stream"
)

// roundTrip turns an Event into the Message a consumer would receive.
func roundTrip(e stream.Event) stream.Message {
	e.ID = "evt-1"
	if err := e.Normalize(); err != nil {
		panic(err)
	}
	return stream.Message{Event: e}
}

func TestRoundTrips(t *testing.T) {
	created := time.Date(2026, 11, 25, 21, 0, 0, 123, time.UTC)
	placed := OrderPlaced{
		Order: Order{
			OrderID: "o-1", UserID: "u-1", AmountCents: 11997, CreatedOn: created,
			Items: []LineItem{{ProductID: "p-1", Qty: 3, PriceCents: 3999}},
		},
		UserAgent: "Mozilla/5.0", IP: "127.0.0.1",
	}
	gotPlaced, err := ParseOrderPlaced(roundTrip(placed.Event(testKey)), testKey)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(placed, gotPlaced); diff != "" {
		t.Errorf("OrderPlaced round trip (-want +got):\n%s", diff)
	}
	if f := placed.Event(testKey).Fields; f["orderAmount"] != "119.97" || f["orderId"] != "o-1" || f["userId"] != "u-1" {
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
	tests := []fieldChange{
		{"missing order id", without("orderId")},
		{"status not final", with("orderStatusCode", "1")},
		{"status not a number", with("orderStatusCode", "paid")},
		{"bad amount", with("orderAmount", "1,00")},
		{"unknown status", with("orderStatusCode", "7")},
		{"negative amount", with("orderAmount", "-1.00")},
		{"payment id with a space", with("paymentId", "p 1")},
	}
	for _, tt := range tests {
		e := good
		e.Fields = map[string]string{}
		for k, v := range good.Fields {
			e.Fields[k] = v
		}
		tt.change(e.Fields)
		_, err := ParsePaymentProcessed(roundTrip(e))
		wantInvalid(t, tt.name, err)
	}
	wrongType := good
	wrongType.Type = TypeOrderPlaced
	if _, err := ParsePaymentProcessed(roundTrip(wrongType)); err == nil {
		t.Error("ParsePaymentProcessed accepted an OrderPlaced")
	}
	badItems := OrderPlaced{Order: Order{OrderID: "o", UserID: "u", AmountCents: 1, CreatedOn: time.Now(), Items: []LineItem{{ProductID: "p", Qty: 0, PriceCents: 1}}}}
	if _, err := ParseOrderPlaced(roundTrip(badItems.Event(testKey)), testKey); err == nil {
		t.Error("ParseOrderPlaced accepted qty 0")
	}
}

// wantInvalid checks that err, of parsing the event of the case name,
// is a permanent ErrInvalid.
func wantInvalid(t *testing.T, name string, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) || !stream.IsPermanent(err) {
		t.Errorf("%s: err = %v, want a permanent ErrInvalid", name, err)
	}
}

// testKey signs the OrderPlaced events of these tests.
var testKey = must(NewOrderKey([]byte("0123456789abcdef0123456789abcdef")))

// must returns v, the result of making a test's fixed input, and panics
// on err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// goodPlaced is an OrderPlaced that passes every check.
func goodPlaced() OrderPlaced {
	return OrderPlaced{Order: Order{
		OrderID: "o-1", UserID: "u-1", AmountCents: 11997 + 500, CreatedOn: time.Date(2026, 11, 25, 21, 0, 0, 123000, time.UTC),
		Items: []LineItem{{ProductID: "p-1", Qty: 3, PriceCents: 3999}, {ProductID: "p-2", Qty: 1, PriceCents: 500}},
	}}
}

// TestEveryEventOfAnUnknownVersionIsRefusedForGood checks that an event
// whose eventVersion the consumers do not know is a permanent error, for
// the consumer to dead-letter at once, whatever its payload.
func TestEveryEventOfAnUnknownVersionIsRefusedForGood(t *testing.T) {
	t.Parallel()
	parsers := map[string]struct {
		event stream.Event
		parse func(stream.Message) error
	}{
		TypeOrderPlaced: {goodPlaced().Event(testKey), func(m stream.Message) error { _, err := ParseOrderPlaced(m, testKey); return err }},
		TypePaymentProcessed: {PaymentProcessed{OrderID: "o", PaymentID: "p", UserID: "u", Status: StatusPaymentSuccess}.Event(),
			func(m stream.Message) error { _, err := ParsePaymentProcessed(m); return err }},
		TypeLoginIdentityRecorded: {LoginIdentityRecorded{UserID: "u", SessionID: "s"}.Event(),
			func(m stream.Message) error { _, err := ParseLoginIdentityRecorded(m); return err }},
		TypeIdentityScored: {IdentityScored{OrderID: "o", UserID: "u", Score: 1}.Event(),
			func(m stream.Message) error { _, err := ParseIdentityScored(m); return err }},
		TypeOrderSnapshot: {goodSnapshot().Event(testKey), func(m stream.Message) error { _, err := ParseOrderSnapshot(m, testKey); return err }},
	}
	for typ, p := range parsers {
		for _, version := range []int{1, 2, 99} {
			m := roundTrip(p.event)
			m.Version = version
			err := p.parse(m)
			switch {
			case version == 1 && err != nil:
				t.Errorf("%s version 1: %v", typ, err)
			case version != 1 && (!errors.Is(err, ErrInvalid) || !stream.IsPermanent(err)):
				t.Errorf("%s version %d: err = %v, want a permanent ErrInvalid", typ, version, err)
			}
		}
	}
}

// TestAnIdentityScoreThatIsNoShareIsRefusedForGood checks that a score
// outside [0, 1], NaN included, is a permanent error.
func TestAnIdentityScoreThatIsNoShareIsRefusedForGood(t *testing.T) {
	t.Parallel()
	for _, score := range []string{"NaN", "nan", "-0.01", "1.01", "+Inf", "-Inf", "1e400", "", "half"} {
		m := roundTrip(IdentityScored{OrderID: "o", UserID: "u", Score: 0.5}.Event())
		m.Fields["identityScore"] = score
		if _, err := ParseIdentityScored(m); !errors.Is(err, ErrInvalid) || !stream.IsPermanent(err) {
			t.Errorf("identityScore %q: err = %v, want a permanent ErrInvalid", score, err)
		}
	}
}

// TestAnOrderPlacedThatCannotBeAnOrderIsRefusedForGood checks the
// payload rules of OrderPlaced: what orders never writes is a permanent
// error.
func TestAnOrderPlacedThatCannotBeAnOrderIsRefusedForGood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(o *OrderPlaced)
	}{
		{"no lines", func(o *OrderPlaced) { o.Items = nil; o.AmountCents = 0 }},
		{"no lines but an amount", func(o *OrderPlaced) { o.Items = []LineItem{} }},
		{"zero amount", func(o *OrderPlaced) { o.AmountCents = 0 }},
		{"negative amount", func(o *OrderPlaced) { o.AmountCents = -12497 }},
		{"amount is not the sum of the lines", func(o *OrderPlaced) { o.AmountCents = 1 }},
		{"qty 0", func(o *OrderPlaced) { o.Items[1].Qty = 0; o.AmountCents = 11997 }},
		{"negative price", func(o *OrderPlaced) { o.Items[1].PriceCents = -500; o.AmountCents = 11997 - 500 }},
		{"order id with a space", func(o *OrderPlaced) { o.OrderID = "o 1" }},
		{"user id with a NUL", func(o *OrderPlaced) { o.UserID = "u\x001" }},
		{"product id too long", func(o *OrderPlaced) { o.Items[0].ProductID = strings.Repeat("p", 1000) }},
	}
	for _, tt := range tests {
		o := goodPlaced()
		tt.change(&o)
		// Signed with the right key: only the payload is at fault.
		_, err := ParseOrderPlaced(roundTrip(o.Event(testKey)), testKey)
		wantInvalid(t, tt.name, err)
	}
}

// TestAnOrderPlacedNotSignedByOrdersIsRefusedForGood checks that only an
// OrderPlaced signed with the key orders holds parses: unsigned, signed
// with another key, or changed after signing, it is a permanent error.
func TestAnOrderPlacedNotSignedByOrdersIsRefusedForGood(t *testing.T) {
	t.Parallel()
	good := goodPlaced().Event(testKey)
	if _, err := ParseOrderPlaced(roundTrip(good), testKey); err != nil {
		t.Fatalf("a signed OrderPlaced: %v", err)
	}
	changed := func(change func(f map[string]string)) stream.Event {
		e := good
		e.Fields = maps.Clone(good.Fields)
		change(e.Fields)
		return e
	}
	tests := []struct {
		name  string
		event stream.Event
	}{
		{"unsigned", changed(without(FieldSignature))},
		{"empty signature", changed(with(FieldSignature, ""))},
		{"signature not hex", changed(with(FieldSignature, "v1:zz"))},
		{"signed with another key", goodPlaced().Event(must(NewOrderKey([]byte("another secret of at least 32 bytes"))))},
		{"amount changed", changed(func(f map[string]string) {
			f["orderAmount"] = "0.01"
			f["products"] = `[{"productId":"p-1","qty":1,"priceCents":1}]`
		})},
		{"order id changed", changed(with("orderId", "o-2"))},
		{"user id changed", changed(with("userId", "u-2"))},
		{"line changed", changed(func(f map[string]string) {
			f["products"] = `[{"productId":"p-1","qty":3,"priceCents":3999},{"productId":"p-3","qty":1,"priceCents":500}]`
		})},
		{"time changed", changed(with("createdOn", "2020-01-01T00:00:00Z"))},
	}
	for _, tt := range tests {
		_, err := ParseOrderPlaced(roundTrip(tt.event), testKey)
		wantInvalid(t, tt.name, err)
	}
	if _, err := NewOrderKey([]byte("short")); err == nil {
		t.Error("NewOrderKey accepted a 5-byte secret")
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

// with returns a change that sets field key to value.
func with(key, value string) func(map[string]string) {
	return func(f map[string]string) { f[key] = value }
}

// without returns a change that removes field key.
func without(key string) func(map[string]string) {
	return func(f map[string]string) { delete(f, key) }
}

// fieldChange is a case of a table of bad events: a name and how it
// changes the fields of a good event.
type fieldChange struct {
	name   string
	change func(f map[string]string)
}
