package cart

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"streamcart/internal/platform/testenv"

	"github.com/google/go-cmp/cmp"
)

func item(id, name string, price int64, qty int) Item {
	return Item{ProductID: id, DisplayName: name, ImageURL: "/api/v1/products/" + id + "/image.svg",
		PriceCents: price, Qty: qty, LineCents: price * int64(qty), Available: true}
}

func TestCartLinesArePricedByTheCatalogAndValidated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const user = "u1"
	shoes, tee := "Puma Men Running Shoes", "Nike Women Tee"

	steps := []struct {
		name         string
		method, path string
		body         string
		wantStatus   int
		wantCode     string
		want         View
	}{
		{"empty", "GET", "/api/v1/cart", "", 200, "", View{Items: []Item{}}},
		{"add", "PUT", "/api/v1/cart/items/p1", `{"qty": 2}`, 200, "",
			View{Items: []Item{item("p1", shoes, 3999, 2)}, TotalCents: 7998}},
		{"add another", "PUT", "/api/v1/cart/items/p2", `{"qty": 1}`, 200, "",
			View{Items: []Item{item("p1", shoes, 3999, 2), item("p2", tee, 1500, 1)}, TotalCents: 9498}},
		{"change", "PUT", "/api/v1/cart/items/p1", `{"qty": 1}`, 200, "",
			View{Items: []Item{item("p1", shoes, 3999, 1), item("p2", tee, 1500, 1)}, TotalCents: 5499}},
		{"unknown product", "PUT", "/api/v1/cart/items/nope", `{"qty": 1}`, 422, "unknown_product", View{}},
		{"inactive product", "PUT", "/api/v1/cart/items/p3", `{"qty": 1}`, 422, "unknown_product", View{}},
		{"qty too big", "PUT", "/api/v1/cart/items/p1", `{"qty": 100}`, 400, "invalid_qty", View{}},
		{"qty negative", "PUT", "/api/v1/cart/items/p1", `{"qty": -1}`, 400, "invalid_qty", View{}},
		{"qty missing", "PUT", "/api/v1/cart/items/p1", `{}`, 400, "invalid_qty", View{}},
		{"qty not a number", "PUT", "/api/v1/cart/items/p1", `{"qty": "2"}`, 400, "invalid_field", View{}},
		{"bad id", "PUT", "/api/v1/cart/items/a.b", `{"qty": 1}`, 400, "invalid_product_id", View{}},
		{"bad id, delete", "DELETE", "/api/v1/cart/items/a.b", "", 400, "invalid_product_id", View{}},
		{"qty 0 removes", "PUT", "/api/v1/cart/items/p2", `{"qty": 0}`, 200, "",
			View{Items: []Item{item("p1", shoes, 3999, 1)}, TotalCents: 3999}},
		{"add back", "PUT", "/api/v1/cart/items/p2", `{"qty": 3}`, 200, "",
			View{Items: []Item{item("p1", shoes, 3999, 1), item("p2", tee, 1500, 3)}, TotalCents: 8499}},
		{"delete line", "DELETE", "/api/v1/cart/items/p1", "", 200, "",
			View{Items: []Item{item("p2", tee, 1500, 3)}, TotalCents: 4500}},
		{"delete cart", "DELETE", "/api/v1/cart", "", 200, "", View{Items: []Item{}}},
		{"empty again", "GET", "/api/v1/cart", "", 200, "", View{Items: []Item{}}},
		{"checkout empty", "POST", "/api/v1/cart/checkout", "", 400, "empty_cart", View{}},
	}
	for _, s := range steps {
		resp, body := e.do(user, s.method, s.path, s.body)
		if resp.StatusCode != s.wantStatus {
			t.Fatalf("%s: %s %s: %s %s, want %d", s.name, s.method, s.path, resp.Status, body, s.wantStatus)
		}
		if s.wantCode != "" {
			if got := errorOf(t, body); got.Code != s.wantCode || got.Message == "" {
				t.Errorf("%s: error %+v, want code %s with a message", s.name, got, s.wantCode)
			}
			continue
		}
		var got View
		testenv.DecodeJSON(t, body, &got)
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: cart (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestCartHoldsAtMostMaxItemsProducts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range MaxItems + 1 {
		id := "x" + strings.Repeat("i", i+1)
		e.shop.mu.Lock()
		e.shop.catalog[id] = Product{ID: id, DisplayName: id, PriceCents: 100, Active: true}
		e.shop.mu.Unlock()
		resp, body := e.do("u1", "PUT", "/api/v1/cart/items/"+id, `{"qty": 1}`)
		switch {
		case i < MaxItems && resp.StatusCode != http.StatusOK:
			t.Fatalf("product %d: %s %s", i+1, resp.Status, body)
		case i == MaxItems && (resp.StatusCode != http.StatusUnprocessableEntity || errorOf(t, body).Code != "cart_full"):
			t.Errorf("product %d: %s %s, want 422 cart_full", i+1, resp.Status, body)
		}
	}
	// A line already in the full cart can still change.
	if resp, body := e.do("u1", "PUT", "/api/v1/cart/items/xi", `{"qty": 5}`); resp.StatusCode != http.StatusOK {
		t.Errorf("change a line of a full cart: %s %s", resp.Status, body)
	}
}

func TestCartRoutesNeedAShopper(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/api/v1/cart", "/api/v1/cart/checkout"} {
		method := "GET"
		if strings.HasSuffix(path, "checkout") {
			method = "POST"
		}
		if resp, body := e.do("", method, path, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a shopper: %s %s, want 401", method, path, resp.Status, body)
		}
	}
}

func TestVanishedProductIsShownUnavailableAndANewPriceIsWhatCheckoutSends(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const user = "u1"
	e.put(user, qty{"p1", 1}, qty{"p2", 2})

	e.shop.drop("p2")
	e.shop.setPrice("p1", 4999)
	resp, body := e.do(user, "POST", "/api/v1/cart/checkout", "")
	if resp.StatusCode != http.StatusConflict || errorOf(t, body).Code != "price_changed" {
		t.Fatalf("checkout at the old price: %s %s, want 409 price_changed passed through", resp.Status, body)
	}
	want := View{Items: []Item{
		item("p1", "Puma Men Running Shoes", 4999, 1),
		{ProductID: "p2", ImageURL: "/api/v1/products/p2/image.svg", PriceCents: 1500, Qty: 2},
	}, TotalCents: 4999}
	if diff := cmp.Diff(want, e.cart(user)); diff != "" {
		t.Errorf("cart (-want +got):\n%s", diff)
	}
	// The shopper has now seen the new price; without the vanished
	// product the order goes through at it.
	if resp, body := e.do(user, "DELETE", "/api/v1/cart/items/p2", ""); resp.StatusCode != 200 {
		t.Fatalf("delete p2: %s %s", resp.Status, body)
	}
	resp, body = e.do(user, "POST", "/api/v1/cart/checkout", "")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("checkout at the new price: %s %s", resp.Status, body)
	}
	orders := e.shop.madeOrders()
	if len(orders) != 1 || orders[0].Lines[0].PriceCents != 4999 {
		t.Errorf("orders %+v, want one at 4999", orders)
	}
}

func TestCheckoutOrdersTheLinesAtTheSeenPricesAndEmptiesTheCart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const user = "u1"
	e.put(user, qty{"p1", 2}, qty{"p2", 1})
	if ttl := e.rdb.TTL(t.Context(), e.svc.key(user)).Val(); ttl < 23*time.Hour {
		t.Errorf("cart TTL %v, want the default TTL (24h)", ttl)
	}

	resp, body := e.do(user, "POST", "/api/v1/cart/checkout", "")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("checkout: %s %s", resp.Status, body)
	}
	var order struct {
		OrderID string `json:"orderId"`
		UserID  string `json:"userId"`
	}
	testenv.DecodeJSON(t, body, &order)
	if order.OrderID != "o1" || order.UserID != user || resp.Header.Get("Location") != "/api/v1/orders/o1" {
		t.Errorf("order %+v at %q, want o1 for %s at /api/v1/orders/o1", order, resp.Header.Get("Location"), user)
	}
	made := e.shop.madeOrders()
	want := []OrderLine{{ProductID: "p1", Qty: 2, PriceCents: 3999}, {ProductID: "p2", Qty: 1, PriceCents: 1500}}
	if len(made) != 1 {
		t.Fatalf("%d orders, want 1", len(made))
	}
	if diff := cmp.Diff(want, made[0].Lines); diff != "" {
		t.Errorf("ordered lines (-want +got):\n%s", diff)
	}
	if k := made[0].Key; !strings.HasPrefix(k, "cart-") || len(k) > 128 {
		t.Errorf("idempotency key %q, want a cart key", k)
	}
	if c := e.cart(user); len(c.Items) != 0 {
		t.Errorf("cart after checkout has %v, want empty", c.Items)
	}
	// Refilling the same cart orders again: a new key.
	e.put(user, qty{"p1", 2}, qty{"p2", 1})
	resp, body = e.do(user, "POST", "/api/v1/cart/checkout", "")
	if resp.StatusCode != http.StatusCreated || len(e.shop.madeOrders()) != 2 {
		t.Errorf("second checkout of a refilled cart: %s %s, want a second order", resp.Status, body)
	}
}

func TestDoubleClickedCheckoutOrdersOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const user = "u1"
	e.put(user, qty{"p1", 1})

	// Two clicks in flight at once: the fake answers neither until both
	// have arrived, so both read the cart before either clears it.
	arrived, release := make(chan struct{}, 2), make(chan struct{})
	e.shop.beforePlace = func() {
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
			resp, body := e.do(user, "POST", "/api/v1/cart/checkout", "")
			var o struct{ OrderID string }
			json.Unmarshal(body, &o)
			results[i] = result{resp.StatusCode, o.OrderID}
		})
	}
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			close(release)
			t.Fatal("the two checkouts did not both reach the orders service")
		}
	}
	close(release)
	wg.Wait()

	if n := len(e.shop.madeOrders()); n != 1 {
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
	if c := e.cart(user); len(c.Items) != 0 {
		t.Errorf("cart after checkout has %v, want empty", c.Items)
	}
}

func TestCartIsKeptInRedisNotInTheProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put("u1", qty{"p2", 3})

	_, srv := e.start()
	resp, body := do(t, srv, "u1", "GET", "/api/v1/cart", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, body)
	}
	var got View
	testenv.DecodeJSON(t, body, &got)
	want := View{Items: []Item{item("p2", "Nike Women Tee", 1500, 3)}, TotalCents: 4500}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cart on a new service (-want +got):\n%s", diff)
	}
	if other := e.cart("u2"); len(other.Items) != 0 {
		t.Errorf("another shopper's cart has %v, want empty", other.Items)
	}
}

func TestIdempotencyKeyChangesWithEveryChangeOfContent(t *testing.T) {
	t.Parallel()
	base := cart{ID: "c1", Version: 3, Lines: []line{{ProductID: "p1", Qty: 1, PriceCents: 3999}, {ProductID: "p2", Qty: 2, PriceCents: 1500}}}
	reordered := base
	reordered.Lines = []line{base.Lines[1], base.Lines[0]}
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
		c.Lines = append([]line(nil), base.Lines...)
		change(&c)
		if c.idempotencyKey() == base.idempotencyKey() {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
}
