package orderhistory_test

import (
	"net/http"
	"testing"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/orderhistory"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
)

// journey serves GET /history/{orderID}/journey as id and returns the
// status and the journey (zero unless 200).
func (a api) journey(t *testing.T, id auth.Identity, orderID string) (int, orderhistory.Journey) {
	t.Helper()
	code, body, _ := testenv.Get(t, a.handler, "/history/"+orderID+"/journey", auth.Header, a.signer.Sign(id))
	var j orderhistory.Journey
	if code == http.StatusOK {
		testenv.DecodeJSON(t, []byte(body), &j)
	}
	return code, j
}

// TestJourneyTellsWhenTheRecordTookItsStatus: the record's status and
// when the history merged the event that gave it, on the service's clock
// (not the event's time), for an operator only; 404 for an order the
// history does not have.
func TestJourneyTellsWhenTheRecordTookItsStatus(t *testing.T) {
	t.Parallel()
	e := running(t)
	a := newAPI(t, e.svc)
	operator := auth.Identity{Role: auth.RoleOperator, UserID: "ops"}
	user := testenv.Name(t, "u")
	o := newOrder(user+"-o", user, base)

	before := time.Now()
	e.publish(t, o.placed())
	e.settle(t)
	code, placed := a.journey(t, operator, o.id)
	if code != http.StatusOK || placed.Status != events.StatusCreated || placed.StatusAt == nil || placed.StatusAt.Before(before.Truncate(time.Millisecond)) {
		t.Fatalf("journey of a placed order: %d %+v, want CREATED since after %v", code, placed, before)
	}
	e.publish(t, o.paid())
	e.settle(t)
	_, paid := a.journey(t, operator, o.id)
	if paid.Status != o.status || paid.StatusName != o.status.String() || paid.StatusAt == nil || paid.StatusAt.Before(*placed.StatusAt) {
		t.Errorf("journey of a paid order: %+v, want %s since after %v", paid, o.status, *placed.StatusAt)
	}
	// A repeated event changes nothing, its time included.
	e.publish(t, o.paid())
	e.settle(t)
	if _, again := a.journey(t, operator, o.id); again.StatusAt == nil || !again.StatusAt.Equal(*paid.StatusAt) {
		t.Errorf("journey after a repeated payment: %+v, want it unchanged at %v", again, *paid.StatusAt)
	}

	if code, _ := a.journey(t, auth.Identity{Role: auth.RoleShopper, UserID: user, SessionID: "s"}, o.id); code != http.StatusForbidden {
		t.Errorf("journey asked by the order's shopper: %d, want 403", code)
	}
	if code, _ := a.journey(t, operator, user+"-none"); code != http.StatusNotFound {
		t.Errorf("journey of no order: %d, want 404", code)
	}
}
