package orders_test

import (
	"net/http"
	"testing"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/orders"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
)

// operator is an operator's identity, as the operations page signs it.
var operator = auth.Identity{Role: auth.RoleOperator, UserID: "ops"}

// journey asks GET /orders/{id}/journey as id and returns the status and
// the journey (zero unless 200).
func (e *env) journey(t *testing.T, id auth.Identity, orderID string) (int, orders.Journey) {
	t.Helper()
	resp, raw := testenv.Do(t, e.api.Client(), testenv.Request{Method: http.MethodGet, URL: e.api.URL + "/orders/" + orderID + "/journey",
		Header: testenv.Header(auth.Header, e.signer.Sign(id))})
	var j orders.Journey
	if resp.StatusCode == http.StatusOK {
		testenv.DecodeJSON(t, raw, &j)
	}
	return resp.StatusCode, j
}

// TestJourneyTellsWhenTheOrderWasCreatedPublishedAndSettled follows one
// order: created, then its OrderPlaced relayed (publishedAt, after
// createdAt) and relayed again by the reconciler (publishedAt moves on),
// then its payment outcome applied (statusAppliedAt, after that). A
// shopper may not ask, even for their own order; an order that does not
// exist is 404.
func TestJourneyTellsWhenTheOrderWasCreatedPublishedAndSettled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.mustCreate(t, "u-1", cart(1, forSale(t, 1)...))
	if code, j := e.journey(t, operator, o.ID); code != http.StatusOK || !j.CreatedAt.Equal(o.CreatedAt) || j.PublishedAt != nil || j.StatusAppliedAt != nil {
		t.Fatalf("journey before the relay ran: %d %+v, want created at %v and nothing else", code, j, o.CreatedAt)
	}
	e.start(t)
	e.relayed(t)
	_, j := e.journey(t, operator, o.ID)
	if j.PublishedAt == nil || j.PublishedAt.Before(j.CreatedAt) || j.StatusAppliedAt != nil {
		t.Fatalf("journey after the relay: %+v, want published after created, no outcome", j)
	}
	published := *j.PublishedAt
	// The reconciler publishes a waiting order again: the time moves on.
	e.age(t, time.Hour, o.ID)
	if n, err := e.svc.Reconcile(t.Context()); err != nil || n != 1 {
		t.Fatalf("Reconcile = %d, %v; want 1", n, err)
	}
	e.relayed(t)
	_, j = e.journey(t, operator, o.ID)
	if j.PublishedAt == nil || !j.PublishedAt.After(published) {
		t.Fatalf("journey after the order was published again: %+v, want published after %v", j, published)
	}
	published = *j.PublishedAt

	e.pay(t, outcome(o, events.StatusPaymentSuccess, "pay-1"), "")
	e.paymentsHandled(t)
	_, j = e.journey(t, operator, o.ID)
	if j.Status != events.StatusPaymentSuccess || j.StatusName != events.StatusPaymentSuccess.String() ||
		j.StatusAppliedAt == nil || j.StatusAppliedAt.Before(published) || !j.PublishedAt.Equal(published) {
		t.Errorf("journey after the payment: %+v, want %s applied after %v", j, events.StatusPaymentSuccess, published)
	}

	if code, _ := e.journey(t, identity("u-1"), o.ID); code != http.StatusForbidden {
		t.Errorf("journey asked by the order's shopper: %d, want 403", code)
	}
	if code, _ := e.journey(t, operator, "o-none"); code != http.StatusNotFound {
		t.Errorf("journey of no order: %d, want 404", code)
	}
}
