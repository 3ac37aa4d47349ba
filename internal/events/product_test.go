package events

import (
	"maps"
	"testing"
	"time"

	"streamcart/internal/stream"
)

// testProductKey signs the ProductChanged events of these tests.
var testProductKey = must(NewProductKey([]byte("0123456789abcdef0123456789abcdef")))

func TestProductChangedRoundTrip(t *testing.T) {
	t.Parallel()
	want := ProductChanged{ProductID: "p-00001", DisplayName: "Puma Men Black Cap", PriceCents: 3999,
		Active: true, Version: 7, UpdatedOn: time.Date(2026, 11, 30, 7, 0, 0, 123456000, time.UTC)}
	got, err := ParseProductChanged(roundTrip(want.Event(testProductKey)), testProductKey)
	if err != nil || got != want {
		t.Errorf("ProductChanged round trip = %+v, %v; want %+v", got, err, want)
	}
	f := want.Event(testProductKey).Fields
	if f["priceCents"] != "3999" || f["productVersion"] != "7" || f["active"] != "true" {
		t.Errorf("ProductChanged fields = %v, want priceCents 3999, productVersion 7, active true", f)
	}
}

func TestParseProductChangedRefusesBadAndForgedEvents(t *testing.T) {
	t.Parallel()
	good := ProductChanged{ProductID: "p-1", DisplayName: "Cap", PriceCents: 100, Active: true, Version: 2,
		UpdatedOn: time.Now().UTC().Truncate(time.Microsecond)}
	other := must(NewProductKey([]byte("another secret, also 32 bytes long")))
	tests := []struct {
		name  string
		event stream.Event
	}{
		{"signed with another key", good.Event(other)},
		{"an OrderKey's signature", func() stream.Event {
			e := good.Event(testProductKey)
			e.Fields[FieldSignature] = testKey.sign(OrderPlaced{})
			return e
		}()},
	}
	changes := []fieldChange{
		{"no signature", without(FieldSignature)},
		{"a price changed after signing", with("priceCents", "1")},
		{"delisted after signing", with("active", "false")},
		{"a version changed after signing", with("productVersion", "99")},
		{"price 0", with("priceCents", "0")},
		{"price in dollars", with("priceCents", "39.99")},
		{"version 0", with("productVersion", "0")},
		{"active not a boolean", with("active", "yes please")},
		{"no name", without("displayName")},
		{"an id that is no id", with("productId", "p 1")},
		{"no update time", without("updatedOn")},
	}
	for _, c := range changes {
		e := good.Event(testProductKey)
		e.Fields = maps.Clone(e.Fields)
		c.change(e.Fields)
		tests = append(tests, struct {
			name  string
			event stream.Event
		}{c.name, e})
	}
	for _, tt := range tests {
		_, err := ParseProductChanged(roundTrip(tt.event), testProductKey)
		wantInvalid(t, tt.name, err)
	}
	if _, err := NewProductKey([]byte("short")); err == nil {
		t.Error("NewProductKey accepted a secret of 5 bytes")
	}
}
