package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/cart"
	"streamcart/internal/platform/testenv"
)

// The cart's behaviour is tested in package cart; here, that the gateway
// serves it behind sessions and lends it the real clients of the products
// and orders services, with the shopper's signed identity.
func TestCartIsServedBehindSessionsThroughTheServices(t *testing.T) {
	t.Parallel()
	e, token, userID := newShopper(t)
	for _, it := range []struct {
		id  string
		qty int
	}{{"p1", 2}, {"p2", 1}} {
		resp, body := e.do(req{method: "PUT", path: "/api/v1/cart/items/" + it.id, token: token, body: map[string]int{"qty": it.qty}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %s %s", it.id, resp.Status, body)
		}
	}
	if ttl := e.rdb.TTL(t.Context(), e.cfg.KeyPrefix+"cart:"+userID).Val(); ttl < 23*time.Hour {
		t.Errorf("cart TTL %v, want the session TTL (24h)", ttl)
	}
	if got := e.fakes.products.last(t, "/products/lookup"); got.IdentityErr != nil || got.Identity.UserID != userID {
		t.Errorf("catalog lookup with identity %+v (%v), want the shopper's", got.Identity, got.IdentityErr)
	}
	resp, body := e.do(req{method: "GET", path: "/api/v1/cart", token: token})
	var v cart.View
	testenv.DecodeJSON(t, body, &v)
	if resp.StatusCode != http.StatusOK || v.TotalCents != 9498 || len(v.Items) != 2 || v.Items[0].DisplayName != "Puma Men Running Shoes" {
		t.Errorf("GET /api/v1/cart: %s %s, want the two lines priced by the catalog", resp.Status, body)
	}

	// A price change at the orders service passes through as it is.
	e.fakes.setPrice("p2", 1700)
	resp, body = e.do(req{method: "POST", path: "/api/v1/cart/checkout", token: token})
	if resp.StatusCode != http.StatusConflict || errorOf(t, body).Code != "price_changed" {
		t.Fatalf("checkout at the old price: %s %s, want 409 price_changed", resp.Status, body)
	}
	e.cartOf(token) // the shopper sees the new price

	resp, body = e.do(req{method: "POST", path: "/api/v1/cart/checkout", token: token})
	made := e.fakes.madeOrders()
	if resp.StatusCode != http.StatusCreated || len(made) != 1 || made[0].UserID != userID {
		t.Fatalf("checkout: %s %s with orders %+v, want 201 and one order of the shopper %s", resp.Status, body, made, userID)
	}
	// The orders service's answer passes through, at the gateway's URL.
	var order struct{ OrderID, UserID string }
	testenv.DecodeJSON(t, body, &order)
	wantOrder := struct{ OrderID, UserID string }{made[0].ID, userID}
	if loc := resp.Header.Get("Location"); order != wantOrder || loc != "/api/v1/orders/"+made[0].ID {
		t.Errorf("answer %+v at %q, want %+v at /api/v1/orders/%s", order, loc, wantOrder, made[0].ID)
	}
	sent := e.fakes.ordersRec.last(t, "/orders")
	var got struct{ Items []orderItem }
	testenv.DecodeJSON(t, []byte(sent.Body), &got)
	want := []orderItem{{ProductID: "p1", Qty: 2, PriceCents: 3999}, {ProductID: "p2", Qty: 1, PriceCents: 1700}}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("order request items (-want +got):\n%s", diff)
	}
	if k := sent.Header.Get("Idempotency-Key"); !strings.HasPrefix(k, "cart-") || len(k) > 128 {
		t.Errorf("Idempotency-Key %q, want a cart key", k)
	}
	if c := e.cartOf(token); len(c.Items) != 0 {
		t.Errorf("cart after checkout has %v, want empty", c.Items)
	}

}

func (e *env) cartOf(token string) cart.View {
	e.t.Helper()
	resp, body := e.do(req{method: "GET", path: "/api/v1/cart", token: token})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /api/v1/cart: %s %s", resp.Status, body)
	}
	var v cart.View
	testenv.DecodeJSON(e.t, body, &v)
	return v
}
