package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func (e *env) cart(token string) cartView {
	e.t.Helper()
	resp, body := e.do(req{method: "GET", path: "/api/v1/cart", token: token})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /api/v1/cart: %s %s", resp.Status, body)
	}
	var v cartView
	decode(e.t, body, &v)
	return v
}

func (e *env) put(token, id string, qty int) {
	e.t.Helper()
	resp, body := e.do(req{method: "PUT", path: "/api/v1/cart/items/" + id, token: token, body: map[string]int{"qty": qty}})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("PUT %s qty %d: %s %s", id, qty, resp.Status, body)
	}
}

func item(id, name string, price int64, qty int) cartItemView {
	return cartItemView{ProductID: id, DisplayName: name, ImageURL: "/api/v1/products/" + id + "/image.svg",
		PriceCents: price, Qty: qty, LineCents: price * int64(qty), Available: true}
}

func TestCart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	shoes, tee := "Puma Men Running Shoes", "Nike Women Tee"

	steps := []struct {
		name       string
		rq         req
		wantStatus int
		wantCode   string
		want       cartView
	}{
		{"empty", req{method: "GET", path: "/api/v1/cart"}, 200, "", cartView{Items: []cartItemView{}}},
		{"add", req{method: "PUT", path: "/api/v1/cart/items/p1", body: `{"qty": 2}`}, 200, "",
			cartView{Items: []cartItemView{item("p1", shoes, 3999, 2)}, TotalCents: 7998}},
		{"add another", req{method: "PUT", path: "/api/v1/cart/items/p2", body: `{"qty": 1}`}, 200, "",
			cartView{Items: []cartItemView{item("p1", shoes, 3999, 2), item("p2", tee, 1500, 1)}, TotalCents: 9498}},
		{"change", req{method: "PUT", path: "/api/v1/cart/items/p1", body: `{"qty": 1}`}, 200, "",
			cartView{Items: []cartItemView{item("p1", shoes, 3999, 1), item("p2", tee, 1500, 1)}, TotalCents: 5499}},
		{"unknown product", req{method: "PUT", path: "/api/v1/cart/items/nope", body: `{"qty": 1}`}, 422, "unknown_product", cartView{}},
		{"inactive product", req{method: "PUT", path: "/api/v1/cart/items/p3", body: `{"qty": 1}`}, 422, "unknown_product", cartView{}},
		{"qty too big", req{method: "PUT", path: "/api/v1/cart/items/p1", body: `{"qty": 100}`}, 400, "invalid_qty", cartView{}},
		{"qty missing", req{method: "PUT", path: "/api/v1/cart/items/p1", body: `{}`}, 400, "invalid_qty", cartView{}},
		{"qty not a number", req{method: "PUT", path: "/api/v1/cart/items/p1", body: `{"qty": "2"}`}, 400, "invalid_field", cartView{}},
		{"bad id", req{method: "PUT", path: "/api/v1/cart/items/a.b", body: `{"qty": 1}`}, 400, "invalid_product_id", cartView{}},
		{"qty 0 removes", req{method: "PUT", path: "/api/v1/cart/items/p2", body: `{"qty": 0}`}, 200, "",
			cartView{Items: []cartItemView{item("p1", shoes, 3999, 1)}, TotalCents: 3999}},
		{"add back", req{method: "PUT", path: "/api/v1/cart/items/p2", body: `{"qty": 3}`}, 200, "",
			cartView{Items: []cartItemView{item("p1", shoes, 3999, 1), item("p2", tee, 1500, 3)}, TotalCents: 8499}},
		{"delete line", req{method: "DELETE", path: "/api/v1/cart/items/p1"}, 200, "",
			cartView{Items: []cartItemView{item("p2", tee, 1500, 3)}, TotalCents: 4500}},
		{"delete cart", req{method: "DELETE", path: "/api/v1/cart"}, 200, "", cartView{Items: []cartItemView{}}},
		{"empty again", req{method: "GET", path: "/api/v1/cart"}, 200, "", cartView{Items: []cartItemView{}}},
		{"checkout empty", req{method: "POST", path: "/api/v1/cart/checkout"}, 400, "empty_cart", cartView{}},
	}
	for _, s := range steps {
		s.rq.token = token
		resp, body := e.do(s.rq)
		if resp.StatusCode != s.wantStatus {
			t.Fatalf("%s: %s %s: %s %s, want %d", s.name, s.rq.method, s.rq.path, resp.Status, body, s.wantStatus)
		}
		if s.wantCode != "" {
			if got := errorOf(t, body); got.Code != s.wantCode || got.Message == "" {
				t.Errorf("%s: error %+v, want code %s with a message", s.name, got, s.wantCode)
			}
			continue
		}
		var got cartView
		decode(t, body, &got)
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: cart (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestCartVanishedProductAndPriceChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	e.put(token, "p1", 1)
	e.put(token, "p2", 2)

	e.fakes.drop("p2")
	e.fakes.setPrice("p1", 4999)
	resp, body := e.do(req{method: "POST", path: "/api/v1/cart/checkout", token: token})
	if resp.StatusCode != http.StatusConflict || errorOf(t, body).Code != "price_changed" {
		t.Fatalf("checkout at the old price: %s %s, want 409 price_changed passed through", resp.Status, body)
	}
	want := cartView{Items: []cartItemView{
		item("p1", "Puma Men Running Shoes", 4999, 1),
		{ProductID: "p2", ImageURL: "/api/v1/products/p2/image.svg", PriceCents: 1500, Qty: 2},
	}, TotalCents: 4999}
	if diff := cmp.Diff(want, e.cart(token)); diff != "" {
		t.Errorf("cart (-want +got):\n%s", diff)
	}
	// The shopper has now seen the new price; without the vanished
	// product the order goes through at it.
	if resp, body := e.do(req{method: "DELETE", path: "/api/v1/cart/items/p2", token: token}); resp.StatusCode != 200 {
		t.Fatalf("delete p2: %s %s", resp.Status, body)
	}
	resp, body = e.do(req{method: "POST", path: "/api/v1/cart/checkout", token: token})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("checkout at the new price: %s %s", resp.Status, body)
	}
	orders := e.fakes.madeOrders()
	if len(orders) != 1 || orders[0].Items[0].PriceCents != 4999 {
		t.Errorf("orders %+v, want one at 4999", orders)
	}
}

func TestCartCheckout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, userID := e.session()
	e.put(token, "p1", 2)
	e.put(token, "p2", 1)
	if ttl := e.rdb.TTL(t.Context(), e.gw.cartKey(userID)).Val(); ttl < 23*time.Hour {
		t.Errorf("cart TTL %v, want the session TTL (24h)", ttl)
	}

	resp, body := e.do(req{method: "POST", path: "/api/v1/cart/checkout", token: token})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("checkout: %s %s", resp.Status, body)
	}
	var order struct {
		OrderID string `json:"orderId"`
		UserID  string `json:"userId"`
	}
	decode(t, body, &order)
	if order.OrderID != "o1" || order.UserID != userID || resp.Header.Get("Location") != "/api/v1/orders/o1" {
		t.Errorf("order %+v at %q, want o1 for %s at /api/v1/orders/o1", order, resp.Header.Get("Location"), userID)
	}
	sent := e.fakes.ordersRec.last(t, "/orders")
	var got struct{ Items []orderItem }
	decode(t, []byte(sent.Body), &got)
	want := []orderItem{{ProductID: "p1", Qty: 2, PriceCents: 3999}, {ProductID: "p2", Qty: 1, PriceCents: 1500}}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("order request items (-want +got):\n%s", diff)
	}
	if k := sent.Header.Get("Idempotency-Key"); !strings.HasPrefix(k, "cart-") || len(k) > 128 {
		t.Errorf("Idempotency-Key %q, want a cart key", k)
	}
	if c := e.cart(token); len(c.Items) != 0 {
		t.Errorf("cart after checkout has %v, want empty", c.Items)
	}
	// Refilling the same cart orders again: a new key.
	e.put(token, "p1", 2)
	e.put(token, "p2", 1)
	resp, body = e.do(req{method: "POST", path: "/api/v1/cart/checkout", token: token})
	if resp.StatusCode != http.StatusCreated || len(e.fakes.madeOrders()) != 2 {
		t.Errorf("second checkout of a refilled cart: %s %s, want a second order", resp.Status, body)
	}
}

func TestCartCheckoutTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	e.put(token, "p1", 1)

	// Two clicks in flight at once: the fake answers neither until both
	// have arrived, so both read the cart before either clears it.
	arrived, release := make(chan struct{}, 2), make(chan struct{})
	e.fakes.beforeCreate = func() {
		arrived <- struct{}{}
		<-release
	}
	type result struct {
		status int
		id     string
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			resp, body := e.do(req{method: "POST", path: "/api/v1/cart/checkout", token: token})
			var o struct{ OrderID string }
			json.Unmarshal(body, &o)
			results[i] = result{resp.StatusCode, o.OrderID}
		})
	}
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
			close(release)
			t.Fatal("the two checkouts did not both reach the orders service")
		}
	}
	close(release)
	wg.Wait()

	if n := len(e.fakes.madeOrders()); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
	statuses := map[int]int{}
	for _, r := range results {
		statuses[r.status]++
		if r.id != "o1" {
			t.Errorf("checkout answered order %q, want o1", r.id)
		}
	}
	if diff := cmp.Diff(map[int]int{201: 1, 200: 1}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if c := e.cart(token); len(c.Items) != 0 {
		t.Errorf("cart after checkout has %v, want empty", c.Items)
	}
}

func TestCartSurvivesNewGateway(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, userID := e.session()
	e.put(token, "p2", 3)

	_, srv := e.startGateway(e.cfg)
	resp, body := do(t, srv, req{method: "GET", path: "/api/v1/cart", token: token})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, body)
	}
	var got cartView
	decode(t, body, &got)
	want := cartView{Items: []cartItemView{item("p2", "Nike Women Tee", 1500, 3)}, TotalCents: 4500}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cart on a new gateway (-want +got):\n%s", diff)
	}
	resp, body = do(t, srv, req{method: "GET", path: "/api/v1/session", token: token})
	if !strings.Contains(string(body), userID) {
		t.Errorf("session on a new gateway: %s %s, want user %s", resp.Status, body, userID)
	}
}

func TestCartIdempotencyKey(t *testing.T) {
	t.Parallel()
	base := cart{ID: "c1", Version: 3, Lines: []cartLine{{ProductID: "p1", Qty: 1, PriceCents: 3999}, {ProductID: "p2", Qty: 2, PriceCents: 1500}}}
	reordered := base
	reordered.Lines = []cartLine{base.Lines[1], base.Lines[0]}
	if base.idempotencyKey() != reordered.idempotencyKey() {
		t.Errorf("the key depends on line order")
	}
	changes := map[string]func(*cart){
		"cart id": func(c *cart) { c.ID = "c2" },
		"version": func(c *cart) { c.Version++ },
		"qty":     func(c *cart) { c.Lines[0].Qty++ },
		"price":   func(c *cart) { c.Lines[0].PriceCents++ },
		"product": func(c *cart) { c.Lines[0].ProductID = "p9" },
		"lines":   func(c *cart) { c.Lines = c.Lines[:1] },
	}
	for name, change := range changes {
		c := base
		c.Lines = append([]cartLine(nil), base.Lines...)
		change(&c)
		if c.idempotencyKey() == base.idempotencyKey() {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
}
