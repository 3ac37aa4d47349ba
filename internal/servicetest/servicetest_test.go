package servicetest_test

import (
	"testing"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestPublishAppendsTheEventsInOrderAndReturnsTheirEntries(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	name := testenv.Name(t, "s")
	placed := events.OrderPlaced{OrderID: "o-1", UserID: "u-1", AmountCents: 100,
		Items: []events.LineItem{{ProductID: "p-1", Qty: 1, PriceCents: 100}}, CreatedOn: time.Now()}
	ids := servicetest.Publish(t, rdb, name, placed.Event(servicetest.OrderKey()), stream.Event{Type: "Other"})
	got := testenv.Entries(t, rdb, name, stream.Decode)
	if len(got) != 2 || got[0].EntryID != ids[0] || got[1].EntryID != ids[1] || got[1].Type != "Other" {
		t.Fatalf("entries %+v, want the two events at %v", got, ids)
	}
	if p, err := events.ParseOrderPlaced(got[0], servicetest.OrderKey()); err != nil || p.OrderID != "o-1" {
		t.Errorf("the OrderPlaced read back as %+v, %v; want o-1 signed by OrderKey", p, err)
	}
	if dl := servicetest.DeadLetters(t, rdb, name); len(dl) != 0 {
		t.Errorf("dead letters %+v, want none", dl)
	}
}

func TestAsSignsWhatSignerVerifies(t *testing.T) {
	t.Parallel()
	caller := auth.Identity{Role: auth.RoleShopper, UserID: "u-1", SessionID: "s-1"}
	got, err := servicetest.Signer().Verify(servicetest.As(caller).Get(auth.Header), time.Now())
	if err != nil || got.UserID != caller.UserID || got.Role != caller.Role {
		t.Errorf("Verify(As(%+v)) = %+v, %v; want the caller", caller, got, err)
	}
}
