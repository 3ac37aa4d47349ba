package orders_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"streamcart/internal/events"
	"streamcart/internal/orders"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/products"
)

// sameTimes compares times by instant, whatever their location.
var sameTimes = cmpopts.EquateApproxTime(0)

// nothingStored checks that userID has no order and no event in the
// outbox: a refused order leaves no trace.
func (e *env) nothingStored(t *testing.T, userID string) {
	t.Helper()
	got, err := e.svc.List(t.Context(), userID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("%s has %d orders, want none: %+v", userID, len(got), got)
	}
	if n := e.outboxRows(t, userID); n != 0 {
		t.Errorf("the outbox has %d events of %s, want none", n, userID)
	}
}

// outboxRows returns how many events of userID wait in the outbox.
func (e *env) outboxRows(t *testing.T, userID string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(),
		`SELECT count(*) FROM orders.outbox WHERE fields->>'userId' = $1`, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// oneOrderPlaced checks that, once the outbox is relayed, userID has one
// order and the orders stream one OrderPlaced.
func (e *env) oneOrderPlaced(t *testing.T, userID string) {
	t.Helper()
	e.relayed(t)
	if got, _ := e.svc.List(t.Context(), userID, 100); len(got) != 1 {
		t.Errorf("%s has %d orders, want 1", userID, len(got))
	}
	if got := e.placed(t); len(got) != 1 {
		t.Errorf("%d OrderPlaced on the orders stream, want 1", len(got))
	}
}

func price(cents int64) *int64 { return &cents }

func TestCreatePricesFromTheCatalogNotTheClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, 3)
	req := orders.CreateRequest{Items: []orders.ItemRequest{
		{ProductID: ps[0].ID, Qty: 1},
		{ProductID: ps[1].ID, Qty: 2},
		{ProductID: ps[2].ID, Qty: 3, PriceCents: price(ps[2].PriceCents)}, // what the shopper saw, and right
	}}
	r := e.create(t, "u-1", "", req)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /orders = %d %s, want 201", r.status, r.body)
	}
	got := r.order(t)
	if r.location != "/orders/"+got.ID {
		t.Errorf("Location = %q, want /orders/%s", r.location, got.ID)
	}
	var want []orders.Item
	var total int64
	for i, p := range ps {
		qty := i + 1
		want = append(want, orders.Item{ProductID: p.ID, DisplayName: p.DisplayName, Qty: qty,
			PriceCents: p.PriceCents, LineCents: p.PriceCents * int64(qty)})
		total += p.PriceCents * int64(qty)
	}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if got.AmountCents != total || got.Currency != "USD" || got.Status != events.StatusCreated ||
		got.StatusName != "CREATED" || got.UserID != "u-1" || got.PaymentID != "" {
		t.Errorf("order = %+v; want %d USD, CREATED, for u-1, no payment", got, total)
	}
	if stored := e.current(t, got); !cmp.Equal(got, stored, sameTimes) {
		t.Errorf("stored order differs from the one returned (-returned +stored):\n%s", cmp.Diff(got, stored, sameTimes))
	}

	// A price other than the catalog's, lower or higher, is refused.
	for _, sent := range []int64{ps[0].PriceCents - 1, ps[0].PriceCents + 1} {
		r := e.create(t, "u-2", "", orders.CreateRequest{Items: []orders.ItemRequest{{ProductID: ps[0].ID, Qty: 1, PriceCents: price(sent)}}})
		if r.status != http.StatusConflict || r.code() != "price_changed" {
			t.Errorf("POST /orders with price %d for a product at %d = %d %s, want 409 price_changed", sent, ps[0].PriceCents, r.status, r.body)
		}
	}
	e.nothingStored(t, "u-2")

	// When the catalog's price changes, new orders take the new price, once
	// it reached the copy of the prices, and a shopper who saw the old one
	// is told.
	e.start(t)
	newPrice := ps[0].PriceCents + 500
	if _, err := e.catalog.Update(t.Context(), ps[0].ID, products.Patch{PriceCents: &newPrice}); err != nil {
		t.Fatal(err)
	}
	e.copied(t, ps[0].ID, newPrice)
	stale := e.create(t, "u-3", "", orders.CreateRequest{Items: []orders.ItemRequest{{ProductID: ps[0].ID, Qty: 2, PriceCents: price(ps[0].PriceCents)}}})
	if stale.status != http.StatusConflict || stale.code() != "price_changed" {
		t.Errorf("POST /orders at the old price = %d %s, want 409 price_changed", stale.status, stale.body)
	}
	o := e.mustCreate(t, "u-3", cart(2, ps[0]))
	if o.Items[0].PriceCents != newPrice || o.AmountCents != 2*newPrice {
		t.Errorf("order after the price change = %+v, want 2 × %d", o, newPrice)
	}
}

func TestCreateRefusesProductsNotForSale(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, 2)
	inactive := false
	if _, err := e.catalog.Update(t.Context(), ps[1].ID, products.Patch{Active: &inactive}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p-does-not-exist", ps[1].ID} {
		// One product for sale and one not: the whole order is refused.
		req := orders.CreateRequest{Items: []orders.ItemRequest{{ProductID: ps[0].ID, Qty: 1}, {ProductID: id, Qty: 1}}}
		r := e.create(t, "u-1", "", req)
		if r.status != http.StatusUnprocessableEntity || r.code() != "unknown_product" || !strings.Contains(string(r.body), id) {
			t.Errorf("POST /orders with %s = %d %s, want 422 unknown_product naming it", id, r.status, r.body)
		}
	}
	e.nothingStored(t, "u-1")
}

func TestCreateValidatesTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, orders.MaxItems+1)
	tests := []struct {
		name       string
		req        orders.CreateRequest
		wantStatus int
		wantCode   string
	}{
		{"no items", orders.CreateRequest{}, 400, "empty_order"},
		{"an empty list", orders.CreateRequest{Items: []orders.ItemRequest{}}, 400, "empty_order"},
		{"qty 0", cart(0, ps[0]), 400, "invalid_qty"},
		{"qty -1", cart(-1, ps[0]), 400, "invalid_qty"},
		{"qty above the maximum", cart(orders.MaxQty+1, ps[0]), 400, "invalid_qty"},
		{"too many items", cart(1, ps...), 400, "too_many_items"},
		{"the same product twice", cart(1, ps[0], ps[1], ps[0]), 400, "duplicate_product"},
		{"no product id", orders.CreateRequest{Items: []orders.ItemRequest{{Qty: 1}}}, 400, "invalid_product_id"},
		{"a product id that is no id", orders.CreateRequest{Items: []orders.ItemRequest{{ProductID: "p 1; drop", Qty: 1}}}, 400, "invalid_product_id"},
		{"a price of 0", orders.CreateRequest{Items: []orders.ItemRequest{{ProductID: ps[0].ID, Qty: 1, PriceCents: price(0)}}}, 400, "invalid_price"},
	}
	for _, tt := range tests {
		r := e.create(t, "u-1", "", tt.req)
		if r.status != tt.wantStatus || r.code() != tt.wantCode {
			t.Errorf("%s: POST /orders = %d %s, want %d %s", tt.name, r.status, r.body, tt.wantStatus, tt.wantCode)
		}
	}
	if r := e.create(t, "u-1", strings.Repeat("k", 129), cart(1, ps[0])); r.status != 400 || r.code() != "invalid_idempotency_key" {
		t.Errorf("POST /orders with a 129-byte Idempotency-Key = %d %s, want 400 invalid_idempotency_key", r.status, r.body)
	}
	if r := e.create(t, "", "", cart(1, ps[0])); r.status != http.StatusUnauthorized {
		t.Errorf("POST /orders without an identity = %d %s, want 401", r.status, r.body)
	}
	// The largest order allowed goes through.
	if r := e.create(t, "u-2", "", cart(1, ps[:orders.MaxItems]...)); r.status != http.StatusCreated {
		t.Errorf("POST /orders with %d items = %d %s, want 201", orders.MaxItems, r.status, r.body)
	}
	e.nothingStored(t, "u-1")
}

func TestHostileInputIsRefusedWithACleanMessageAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, 1)
	good := `{"items":[{"productId":"` + ps[0].ID + `","qty":1}]}`
	tests := []struct {
		name, method, target, body, ctype, key string
		wantStatus                             int
	}{
		{"NUL in a product id", "POST", "/orders", `{"items":[{"productId":"p\u0000","qty":1}]}`, "application/json", "", 400},
		{"invalid UTF-8", "POST", "/orders", "{\"items\":[{\"productId\":\"\xff\",\"qty\":1}]}", "application/json", "", 400},
		{"trailing data", "POST", "/orders", good + "GARBAGE", "application/json", "", 400},
		{"no Content-Type", "POST", "/orders", good, "", "", 415},
		{"application/jsonx", "POST", "/orders", good, "application/jsonx", "", 415},
		{"a number too large", "POST", "/orders", `{"items":[{"productId":"p","qty":1e999}]}`, "application/json", "", 400},
		{"100 KB", "POST", "/orders", `{"items":[{"productId":"` + strings.Repeat("x", 100<<10) + `","qty":1}]}`, "application/json", "", 413},
		{"an Idempotency-Key that is not UTF-8", "POST", "/orders", good, "application/json", "k\xff", 400},
		{"an Idempotency-Key with a tab", "POST", "/orders", good, "application/json", "k\tk", 400},
		{"NUL in the query", "GET", "/orders?limit=%00", "", "", "", 400},
		{"invalid UTF-8 in the query", "GET", "/orders?x=%FF", "", "", "", 400},
		{"NUL in the path", "GET", "/orders/%00", "", "", "", 400},
	}
	for _, tt := range tests {
		h := http.Header{"Content-Type": {tt.ctype}, auth.Header: {e.signer.Sign(identity("u-hostile"))}}
		if tt.key != "" {
			h.Set("Idempotency-Key", tt.key)
		}
		resp, body := testenv.Do(t, e.api.Client(), testenv.Request{Method: tt.method, URL: e.api.URL + tt.target, Body: tt.body, Header: h})
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s: %s %s, want %d", tt.name, resp.Status, body, tt.wantStatus)
		}
		if l := testenv.LeakInBody(body); l != "" {
			t.Errorf("%s: error body %s leaks %s", tt.name, body, l)
		}
	}
	e.nothingStored(t, "u-hostile")
}

func TestCreateRefusesATotalAboveMaxTotalCents(t *testing.T) {
	t.Parallel()
	p := forSale(t, 1)[0]
	e := newEnv(t, func(cfg *orders.Config) { cfg.MaxTotalCents = 2 * p.PriceCents })
	if o := e.mustCreate(t, "u-1", cart(2, p)); o.AmountCents != e.cfg.MaxTotalCents {
		t.Errorf("order at the limit = %d cents, want %d", o.AmountCents, e.cfg.MaxTotalCents)
	}
	r := e.create(t, "u-2", "", cart(3, p))
	if r.status != http.StatusUnprocessableEntity || r.code() != "total_too_large" {
		t.Errorf("POST /orders for 3 × %d cents with a limit of %d = %d %s, want 422 total_too_large",
			p.PriceCents, e.cfg.MaxTotalCents, r.status, r.body)
	}
	e.nothingStored(t, "u-2")
}

func TestCreateWritesTheOrderItsItemsAndOneOrderPlacedTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, 2)
	o := e.mustCreate(t, "u-1", cart(2, ps...))

	// Before the relay runs, the event waits in the outbox, committed with
	// the order.
	if n := e.outboxRows(t, "u-1"); n != 1 {
		t.Errorf("the outbox holds %d events of the order, want 1", n)
	}
	if stored := e.current(t, o); len(stored.Items) != 2 {
		t.Errorf("stored order has items %+v, want 2", stored.Items)
	}

	e.start(t)
	e.relayed(t)
	got := e.placed(t)
	if len(got) != 1 {
		t.Fatalf("the orders stream has %d OrderPlaced, want 1: %+v", len(got), got)
	}
	id := identity("u-1")
	want := events.OrderPlaced{
		Order:     events.Order{OrderID: o.ID, UserID: "u-1", AmountCents: o.AmountCents, CreatedOn: o.CreatedAt},
		UserAgent: id.UserAgent, IP: id.IP,
	}
	for _, it := range o.Items {
		want.Items = append(want.Items, events.LineItem{ProductID: it.ProductID, Qty: it.Qty, PriceCents: it.PriceCents})
	}
	if diff := cmp.Diff(want, got[0].OrderPlaced, sameTimes); diff != "" {
		t.Errorf("OrderPlaced (-want +got):\n%s", diff)
	}
	if got[0].eventID == "" {
		t.Error("OrderPlaced has no event id")
	}
}

func TestSameKeyAndRequestReturnsTheFirstOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start(t)
	req := cart(1, forSale(t, 2)...)
	first := e.create(t, "u-1", "key-1", req)
	if first.status != http.StatusCreated {
		t.Fatalf("first POST /orders = %d %s, want 201", first.status, first.body)
	}
	again := e.create(t, "u-1", "key-1", req)
	if again.status != http.StatusOK {
		t.Errorf("repeated POST /orders = %d %s, want 200", again.status, again.body)
	}
	if diff := cmp.Diff(first.order(t), again.order(t), sameTimes); diff != "" {
		t.Errorf("the repeat returned another order (-first +repeat):\n%s", diff)
	}
	// The service says so too.
	o, created, err := e.svc.Create(t.Context(), identity("u-1"), req, "key-1")
	if err != nil || created || o.ID != first.order(t).ID {
		t.Errorf("Create with the same key = %s, created %v, %v; want %s, false, nil", o.ID, created, err, first.order(t).ID)
	}

	e.oneOrderPlaced(t, "u-1")
}

func TestSameKeyWithAnotherRequestIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, 2)
	// An order without a key does not take part.
	e.mustCreate(t, "u-1", cart(1, ps[0]))
	if r := e.create(t, "u-1", "key-1", cart(1, ps[0])); r.status != http.StatusCreated {
		t.Fatalf("POST /orders with key-1 = %d %s, want 201", r.status, r.body)
	}
	for _, req := range []orders.CreateRequest{cart(2, ps[0]), cart(1, ps[1]), cart(1, ps...)} {
		r := e.create(t, "u-1", "key-1", req)
		if r.status != http.StatusUnprocessableEntity || r.code() != "idempotency_key_reused" {
			t.Errorf("POST /orders %+v with key-1 again = %d %s, want 422 idempotency_key_reused", req, r.status, r.body)
		}
	}
	if got, _ := e.svc.List(t.Context(), "u-1", 100); len(got) != 2 {
		t.Errorf("u-1 has %d orders, want 2 (one without a key, one with key-1)", len(got))
	}
	if n := e.outboxRows(t, "u-1"); n != 2 {
		t.Errorf("the outbox holds %d events of u-1, want 2", n)
	}
}

func TestIdempotencyKeysArePerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	req := cart(1, forSale(t, 1)...)
	var ids []string
	for _, user := range []string{"u-1", "u-2"} {
		r := e.create(t, user, "shared-key", req)
		if r.status != http.StatusCreated {
			t.Fatalf("POST /orders as %s with shared-key = %d %s, want 201", user, r.status, r.body)
		}
		o := r.order(t)
		if o.UserID != user {
			t.Errorf("order created for %s belongs to %s", user, o.UserID)
		}
		ids = append(ids, o.ID)
	}
	if ids[0] == ids[1] {
		t.Errorf("two users with the same key got the same order %s", ids[0])
	}
}

func TestConcurrentCreatesWithOneKeyMakeOneOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start(t)
	req := cart(1, forSale(t, 3)...)
	const n = 10
	replies := make([]reply, n)
	errs := make([]error, n)
	start := make(chan struct{})
	done := make(chan struct{}, n)
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			replies[i], errs[i] = e.send(t, http.MethodPost, "/orders", "u-1", "key-1", req)
		}()
	}
	close(start)
	for range n {
		<-done
	}
	statuses := map[int]int{}
	ids := map[string]bool{}
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		statuses[r.status]++
		if r.status == http.StatusCreated || r.status == http.StatusOK {
			ids[r.order(t).ID] = true
		}
	}
	if want := map[int]int{http.StatusCreated: 1, http.StatusOK: n - 1}; !cmp.Equal(statuses, want) {
		t.Errorf("statuses of %d concurrent creates with one key = %v, want %v", n, statuses, want)
	}
	if len(ids) != 1 {
		t.Errorf("concurrent creates with one key returned orders %v, want one", ids)
	}
	e.oneOrderPlaced(t, "u-1")
}

func TestUsersSeeOnlyTheirOwnOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.mustCreate(t, "u-1", cart(1, forSale(t, 1)...))

	if r := e.do(t, http.MethodGet, "/orders/"+o.ID, "u-1", "", nil); r.status != http.StatusOK || r.order(t).ID != o.ID {
		t.Errorf("GET /orders/%s as its owner = %d %s, want 200 and the order", o.ID, r.status, r.body)
	}
	// Another user is told the order does not exist, exactly as for an id
	// that exists nowhere, so ids cannot be probed.
	for _, path := range []string{"/orders/" + o.ID, "/orders/no-such-order"} {
		if r := e.do(t, http.MethodGet, path, "u-2", "", nil); r.status != http.StatusNotFound || r.code() != "not_found" {
			t.Errorf("GET %s as u-2 = %d %s, want 404 not_found", path, r.status, r.body)
		}
	}
	if r := e.do(t, http.MethodGet, "/orders", "u-2", "", nil); r.status != http.StatusOK || len(r.orders(t)) != 0 {
		t.Errorf("GET /orders as u-2 = %d %s, want 200 and no orders", r.status, r.body)
	}
	for _, path := range []string{"/orders", "/orders/" + o.ID} {
		if r := e.do(t, http.MethodGet, path, "", "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s without an identity = %d %s, want 401", path, r.status, r.body)
		}
	}
}

func TestListIsNewestFirstAndLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, 4)
	var ids []string // newest first
	for _, p := range ps {
		ids = append([]string{e.mustCreate(t, "u-1", cart(1, p)).ID}, ids...)
	}
	e.mustCreate(t, "u-2", cart(1, ps[0]))

	orderIDs := func(os []orders.Order) []string {
		var out []string
		for _, o := range os {
			out = append(out, o.ID)
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", ids},
		{"?limit=2", ids[:2]},
		{"?limit=1", ids[:1]},
		{"?limit=100", ids},
	} {
		r := e.do(t, http.MethodGet, "/orders"+tt.query, "u-1", "", nil)
		if r.status != http.StatusOK {
			t.Errorf("GET /orders%s = %d %s, want 200", tt.query, r.status, r.body)
			continue
		}
		got := r.orders(t)
		if diff := cmp.Diff(tt.want, orderIDs(got)); diff != "" {
			t.Errorf("GET /orders%s (-want +got):\n%s", tt.query, diff)
		}
		for _, o := range got {
			if len(o.Items) != 1 {
				t.Errorf("GET /orders%s: order %s has items %+v, want its 1", tt.query, o.ID, o.Items)
			}
		}
	}
	for _, limit := range []string{"0", "101", "-1", "ten"} {
		if r := e.do(t, http.MethodGet, "/orders?limit="+limit, "u-1", "", nil); r.status != 400 || r.code() != "invalid_limit" {
			t.Errorf("GET /orders?limit=%s = %d %s, want 400 invalid_limit", limit, r.status, r.body)
		}
	}
	got, err := e.svc.List(t.Context(), "u-1", 3)
	if err != nil || !cmp.Equal(orderIDs(got), ids[:3]) {
		t.Errorf("List(u-1, 3) = %v, %v; want %v", orderIDs(got), err, ids[:3])
	}
}
