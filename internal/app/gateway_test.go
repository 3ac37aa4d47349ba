package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/app"
	"streamcart/internal/events"
	"streamcart/internal/identity"
	"streamcart/internal/ops"
	"streamcart/internal/orderhistory"
	"streamcart/internal/payments"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/products"
)

// shopper is a browser on the gateway: a session token, a user agent and,
// through X-Forwarded-For (the test gateway trusts it), an address.
type shopper struct {
	s     *shop
	token string
	agent string
	ip    string
}

func (s *shop) shopper(agent, ip string) *shopper {
	sh := &shopper{s: s, agent: agent, ip: ip}
	var sess struct {
		UserID string `json:"userId"`
		Auth   string `json:"auth"`
	}
	if code := sh.do("GET", "/api/v1/session", nil, &sess); code != 200 || sess.Auth == "" {
		s.t.Fatalf("new session: %d %+v", code, sess)
	}
	sh.token = sess.Auth
	return sh
}

// do sends a request through the gateway and decodes the JSON answer.
func (sh *shopper) do(method, path string, body, out any, headers ...string) int {
	sh.s.t.Helper()
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {sh.agent}, "X-Forwarded-For": {sh.ip}}
	if sh.token != "" {
		h.Set("Authorization", "Bearer "+sh.token)
	}
	return request(sh.s.t, sh.s.client, method, sh.s.sys.URLs[app.Gateway]+path, body, out, h, headers...)
}

// twoPumas searches the catalog for PUMA through /api/v1 and returns the
// first two products found, failing the test unless there are two.
func (sh *shopper) twoPumas() (a, b product) {
	sh.s.t.Helper()
	var page struct {
		Products []product `json:"products"`
	}
	if code := sh.do("GET", "/api/v1/products?q=PUMA&limit=5", nil, &page); code != 200 || len(page.Products) < 2 {
		sh.s.t.Fatalf("search: %d, %d products", code, len(page.Products))
	}
	return page.Products[0], page.Products[1]
}

// placeOrder orders items through /api/v1 and fails the test unless the
// order is created.
func (sh *shopper) placeOrder(items ...item) order {
	sh.s.t.Helper()
	var o order
	if code := sh.do("POST", "/api/v1/orders", map[string]any{"items": items}, &o); code != 201 {
		sh.s.t.Fatalf("create order of %+v: %d", items, code)
	}
	return o
}

// historyRecord is an order as the history API shows it: the order with
// its identity score.
type historyRecord struct {
	order
	IdentityScore  *float64 `json:"identityScore"`
	PotentialFraud bool     `json:"potentialFraud"`
}

func (sh *shopper) history() []historyRecord {
	orders, code := sh.tryHistory()
	if code != 200 {
		sh.s.t.Fatalf("history: status %d", code)
	}
	return orders
}

// tryHistory is history for a poll, which may outrun the session's rate
// limit (429) and then simply tries again.
func (sh *shopper) tryHistory() ([]historyRecord, int) {
	var h struct{ Orders []historyRecord }
	code := sh.do("GET", "/api/v1/orders", nil, &h)
	return h.Orders, code
}

// settledRecord waits until orderID shows in the shopper's history with a
// payment outcome and an identity score.
func (sh *shopper) settledRecord(orderID string) historyRecord {
	sh.s.t.Helper()
	var rec historyRecord
	testenv.WaitFor(sh.s.t, 30*time.Second, "order "+orderID+" settled in the history", func() bool {
		orders, code := sh.tryHistory()
		if code == http.StatusTooManyRequests {
			return false
		}
		if code != http.StatusOK {
			sh.s.t.Fatalf("history: status %d", code)
		}
		for _, r := range orders {
			if r.OrderID == orderID && (r.Status == 4 || r.Status == -4) && r.IdentityScore != nil {
				rec = r
				return true
			}
		}
		return false
	})
	return rec
}

// tutorialFound is the tutorial API's answer to a product search.
type tutorialFound struct {
	Data []struct {
		ProductID string `json:"productId"`
		Data      struct {
			Price json.Number `json:"price"`
		} `json:"data"`
	} `json:"data"`
	Error any    `json:"error"`
	Auth  string `json:"auth"`
}

// tutorialSearch searches the products by name through the tutorial API.
func (sh *shopper) tutorialSearch(name string) (int, tutorialFound) {
	sh.s.t.Helper()
	var found tutorialFound
	code := sh.do("POST", "/products/getProductsByFilter", map[string]string{"productDisplayName": name}, &found)
	return code, found
}

func startGatewayShop(t *testing.T) *shop {
	return startShop(t, shopOptions{trustProxy: true})
}

func TestShopThroughGatewayV1(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	sh := s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", "192.0.2.10")
	a, b := sh.twoPumas()
	o := sh.placeOrder(item{ProductID: a.ID, Qty: 2, PriceCents: &a.PriceCents}, item{ProductID: b.ID, Qty: 1, PriceCents: &b.PriceCents})
	want := 2*a.PriceCents + b.PriceCents
	if o.AmountCents != want {
		t.Errorf("order amount %d, want %d", o.AmountCents, want)
	}
	rec := sh.settledRecord(o.OrderID)
	wantStatus := 4
	if want > 50000 {
		wantStatus = -4
	}
	if rec.Status != wantStatus || rec.AmountCents != want || rec.PaymentID == "" || len(rec.Items) != 2 ||
		rec.Items[0].ProductID != a.ID || rec.Items[0].Qty != 2 || rec.Items[0].PriceCents != a.PriceCents {
		t.Errorf("history record %+v, want status %d, amount %d, the two items", rec, wantStatus, want)
	}
	if *rec.IdentityScore != 1 || rec.PotentialFraud {
		t.Errorf("identity score %v (fraud %v), want 1 for a checkout from the login's browser and address", *rec.IdentityScore, rec.PotentialFraud)
	}
	// The orders service applies the payment on its own schedule.
	testenv.WaitFor(t, 10*time.Second, "the order paid in the orders service", func() bool {
		var byID order
		code := sh.do("GET", "/api/v1/orders/"+o.OrderID, nil, &byID)
		return code == 200 && byID.PaymentID == rec.PaymentID && byID.Status == wantStatus
	})
}

func TestShopThroughGatewayTutorialAPI(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	sh := &shopper{s: s, agent: "tutorial-client/1.0", ip: "192.0.2.20"}

	code, found := sh.tutorialSearch("nike")
	if code != 200 || len(found.Data) == 0 || found.Auth == "" || found.Error != nil {
		t.Fatalf("getProductsByFilter: %d, %d products, auth %q, error %v", code, len(found.Data), found.Auth, found.Error)
	}
	sh.token = found.Auth
	p := found.Data[0]
	var created struct {
		Data  string `json:"data"`
		Error any    `json:"error"`
	}
	body := map[string]any{"products": []map[string]any{{"productId": p.ProductID, "qty": 1, "productPrice": p.Data.Price}}}
	if code := sh.do("POST", "/orders/createOrder", body, &created); code/100 != 2 || created.Data == "" || created.Error != nil {
		t.Fatalf("createOrder: %d %+v", code, created)
	}
	var hist struct {
		Data []struct {
			OrderID         string  `json:"orderId"`
			OrderStatusCode int     `json:"orderStatusCode"`
			PaymentID       string  `json:"paymentId"`
			IdentityScore   float64 `json:"identityScore"`
			Products        []struct {
				ProductID    string      `json:"productId"`
				Qty          int         `json:"qty"`
				ProductPrice json.Number `json:"productPrice"`
				ProductData  struct {
					ProductDisplayName string `json:"productDisplayName"`
				} `json:"productData"`
			} `json:"products"`
		} `json:"data"`
	}
	testenv.WaitFor(t, 30*time.Second, "the order paid in viewOrderHistory", func() bool {
		if code := sh.do("GET", "/orderHistory/viewOrderHistory", nil, &hist); code != 200 || len(hist.Data) != 1 {
			return false
		}
		return hist.Data[0].OrderStatusCode == 4 && hist.Data[0].IdentityScore == 1
	})
	got := hist.Data[0]
	if got.OrderID != created.Data || got.PaymentID == "" || len(got.Products) != 1 || got.Products[0].ProductID != p.ProductID ||
		got.Products[0].ProductPrice != p.Data.Price || got.Products[0].ProductData.ProductDisplayName == "" {
		t.Errorf("viewOrderHistory record %+v, want the order of %s at %s with its product data", got, p.ProductID, p.Data.Price)
	}
}

func TestTutorialSearchReturnsTheWholeCatalogWithAbsoluteImageURLs(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	sh := s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", "192.0.2.61")
	var found struct {
		Data []struct {
			Data struct {
				StyleImages struct {
					Default struct {
						ImageURL string `json:"imageURL"`
					} `json:"default"`
				} `json:"styleImages"`
			} `json:"data"`
		} `json:"data"`
	}
	if code := sh.do("POST", "/products/getProductsByFilter", map[string]string{}, &found); code != 200 {
		t.Fatalf("tutorial search: %d", code)
	}
	if len(found.Data) != products.SampleSize {
		t.Errorf("tutorial search of everything: %d products, want the catalog's %d", len(found.Data), products.SampleSize)
	}
	img := found.Data[0].Data.StyleImages.Default.ImageURL
	u, err := url.Parse(img)
	if err != nil || !u.IsAbs() || !strings.HasPrefix(img, s.sys.URLs[app.Gateway]+"/") {
		t.Fatalf("imageURL %q, want an absolute URL on the gateway %s", img, s.sys.URLs[app.Gateway])
	}
	if resp, body := testenv.Do(t, s.client, testenv.Request{Method: "GET", URL: img}); resp.StatusCode != 200 || !strings.Contains(string(body), "<svg") {
		t.Errorf("GET %s: %s, want the image", img, resp.Status)
	}
}

func TestUsersSeeOnlyTheirOwnOrders(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	alice := s.shopper("alice-browser", "192.0.2.1")
	bob := s.shopper("bob-browser", "192.0.2.2")
	p := s.catalog(1)[0]
	o := alice.placeOrder(item{ProductID: p.ID, Qty: 1})
	alice.settledRecord(o.OrderID)

	if h := bob.history(); len(h) != 0 {
		t.Errorf("bob's history shows %d orders, want none", len(h))
	}
	for _, id := range []string{o.OrderID, "0193a1e2-7c4f-7d2a-9b1e-2f6c8d9e0a1b", "1", "%27%20OR%201=1--"} {
		if code := bob.do("GET", "/api/v1/orders/"+id, nil, nil); code != 404 {
			t.Errorf("bob GET /api/v1/orders/%s: %d, want 404", id, code)
		}
	}
	var tut struct {
		Data []any `json:"data"`
	}
	if code := bob.do("GET", "/orderHistory/viewOrderHistory", nil, &tut); code != 200 || len(tut.Data) != 0 {
		t.Errorf("bob's tutorial history: %d with %d orders, want none", code, len(tut.Data))
	}
}

func TestForgedIdentityIsRejected(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	alice := s.shopper("alice-browser", "192.0.2.1")
	mallory := s.shopper("mallory-browser", "192.0.2.66")

	// A header signed with another secret, claiming to be alice, sent to
	// the gateway: stripped, the order is mallory's.
	other, err := auth.NewSigner([]byte("another-secret-another-secret-another"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var aliceID struct {
		UserID string `json:"userId"`
	}
	alice.do("GET", "/api/v1/session", nil, &aliceID)
	forged := other.Sign(auth.Identity{Role: auth.RoleShopper, UserID: aliceID.UserID})
	p := s.catalog(1)[0]
	var o order
	if code := mallory.do("POST", "/api/v1/orders", map[string]any{"items": []item{{ProductID: p.ID, Qty: 1}}}, &o, auth.Header, forged); code != 201 {
		t.Fatalf("order with a forged header: %d", code)
	}
	if o.UserID == aliceID.UserID {
		t.Errorf("the gateway let a forged identity through: the order belongs to alice")
	}
	if h := alice.history(); len(h) != 0 {
		t.Errorf("alice's history shows %d orders, want none", len(h))
	}

	// Straight to the services: forged or missing identity → 401.
	for _, svc := range []string{app.Orders, app.History, app.Identity} {
		path := map[string]string{app.Orders: "/orders", app.History: "/history", app.Identity: "/identities"}[svc]
		for _, header := range []string{"", forged} {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", s.sys.URLs[svc]+path, nil)
			if header != "" {
				req.Header.Set(auth.Header, header)
			}
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("%s %s with identity %v: %d, want 401", svc, path, header != "", resp.StatusCode)
			}
		}
	}
}

func TestIdentityScoreOfCheckouts(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	sh := s.shopper("Mozilla/5.0 Chrome/150", "198.51.100.7")
	p := s.catalog(1)[0]
	place := func() string {
		return sh.placeOrder(item{ProductID: p.ID, Qty: 1}).OrderID
	}
	same := sh.settledRecord(place())
	if *same.IdentityScore != 1 || same.PotentialFraud {
		t.Errorf("checkout from the login's browser and address: score %v fraud %v, want 1 and false", *same.IdentityScore, same.PotentialFraud)
	}
	// The same session used from another browser and address.
	sh.agent, sh.ip = "curl/8.0", "203.0.113.99"
	other := sh.settledRecord(place())
	if *other.IdentityScore != 0 || !other.PotentialFraud {
		t.Errorf("checkout from another browser and address: score %v fraud %v, want 0 and true", *other.IdentityScore, other.PotentialFraud)
	}
}

func TestHistoryRebuildEqualsLive(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	catalog := s.catalog(20)
	shoppers := []*shopper{s.shopper("a", "192.0.2.1"), s.shopper("b", "192.0.2.2"), s.shopper("c", "192.0.2.3")}
	var last []string
	for i := range 12 {
		sh := shoppers[i%3]
		qty := 1 + i%5
		if i%4 == 0 {
			qty = 99 // above the payment limit: PAYMENT_FAIL
		}
		o := sh.placeOrder(item{ProductID: catalog[i].ID, Qty: qty})
		if i >= 9 {
			last = append(last, o.OrderID)
		}
	}
	for i, id := range last {
		shoppers[(9+i)%3].settledRecord(id)
	}
	testenv.WaitFor(t, 30*time.Second, "every order settled", func() bool {
		n := 0
		for _, sh := range shoppers {
			orders, code := sh.tryHistory()
			if code == http.StatusTooManyRequests {
				return false
			}
			for _, r := range orders {
				if (r.Status == 4 || r.Status == -4) && r.IdentityScore != nil {
					n++
				}
			}
		}
		return n == 12
	})
	before := make([][]historyRecord, len(shoppers))
	for i, sh := range shoppers {
		before[i] = sh.history()
	}
	if err := app.RebuildHistory(context.Background(), s.cfg.RedisURL, s.sys.URLs[app.Orders], s.cfg.Secret, s.cfg.Names.StreamPartitions, testenv.Logger(t)); err != nil {
		t.Fatal(err)
	}
	for i, sh := range shoppers {
		if diff := cmp.Diff(before[i], sh.history(), cmp.AllowUnexported(historyRecord{})); diff != "" { // historyRecord embeds the unexported order
			t.Errorf("shopper %d: history after rebuild (-live +rebuilt):\n%s", i, diff)
		}
	}
}

// With StreamMaxAge, the gateway (logins) and the orders relay (OrderPlaced)
// trim the streams they append to.
func TestStreamsAreTrimmedByAge(t *testing.T) {
	t.Parallel()
	// Entries from 1970 in ORDERS_STREAM and TRANSACTION_STREAM, behind
	// every consumer group, so that only trimming removes them.
	const old = 300
	groups := map[string][]string{
		events.OrdersStream:      {payments.Group, orderhistory.Group, identity.Group},
		events.TransactionStream: {identity.Group, orderhistory.Group},
	}
	prepare := func(rdb redis.UniversalClient) {
		ctx := t.Context()
		for name, gs := range groups {
			for i := 1; i <= old; i++ {
				if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: name, ID: fmt.Sprintf("1-%d", i), Values: []any{"old", "1"}}).Err(); err != nil {
					t.Fatal(err)
				}
			}
			for _, g := range gs {
				if err := rdb.XGroupCreate(ctx, name, g, "$").Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	s := startShop(t, shopOptions{trustProxy: true, streamMaxAge: time.Hour, prepare: prepare})
	sh := s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", "192.0.2.30") // a login: TRANSACTION_STREAM
	var page struct {
		Products []product `json:"products"`
	}
	if code := sh.do("GET", "/api/v1/products?limit=1", nil, &page); code != 200 || len(page.Products) != 1 {
		t.Fatalf("search: %d, %d products", code, len(page.Products))
	}
	p := page.Products[0]
	o := sh.placeOrder(item{ProductID: p.ID, Qty: 1, PriceCents: &p.PriceCents})
	rdb := redis.NewClient(&redis.Options{Addr: s.redis.Addr()})
	defer rdb.Close()
	for name := range groups {
		// Trimming is approximate: whole nodes of old entries go, and
		// the node the new entry joined may keep a few.
		testenv.WaitFor(t, 10*time.Second, name+" trimmed", func() bool {
			n, err := rdb.XLen(t.Context(), name).Result()
			return err == nil && n < old/2
		})
	}
	sh.settledRecord(o.OrderID) // and the shop works on
}

// The operations page's sign-in form is limited per address, so that a
// token cannot be guessed at speed.
func TestOpsLoginIsRateLimited(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	url := s.sys.URLs[app.Gateway] + "/ops/login"
	// However the attempts straddle a minute boundary, one window holds
	// more than the limit of 2*limit+1.
	for i := range 2*ops.DefaultLoginAttempts + 1 {
		req, err := http.NewRequest("POST", url, strings.NewReader("token=guess"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "192.0.2.40")
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			return
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("attempt %d: %s", i+1, resp.Status)
		}
	}
	t.Errorf("%d sign-in attempts from one address, none refused", 2*ops.DefaultLoginAttempts+1)
}

// Reading the shop leaves no trace: requests without a session (searches,
// products, categories, images, the shop's pages and 404s) start no
// session, so they leave no Redis session, no login event and no login
// identity row. Today's count is checked after one real session's login
// identity has arrived, which the identity service reads after the
// others' (one stream, in order).
func TestCookielessReadsLeaveNoLoginIdentities(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	gw := s.sys.URLs[app.Gateway]
	p := s.catalog(1)[0]
	paths := []string{
		"/api/v1/products?q=puma", "/api/v1/products/" + p.ID, "/api/v1/products/no-such-product", "/api/v1/categories",
		"/api/v1/products/" + p.ID + "/image.svg", "/api/v1/no-such-route", "/", "/cart", "/orders", "/no-such-page",
	}
	client := &http.Client{Timeout: 10 * time.Second} // not the API checker: the shop's 404 page is no API
	for i := range 1000 {
		path := paths[i%len(paths)]
		resp, err := client.Get(gw + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 || len(resp.Header.Values("Set-Cookie")) > 0 {
			t.Fatalf("GET %s: %s with Set-Cookie %q, want an answer without a session", path, resp.Status, resp.Header.Values("Set-Cookie"))
		}
	}
	s.shopper("agent/1", "192.0.2.60")
	testenv.WaitFor(t, 30*time.Second, "the shopper's login identity", func() bool {
		var n int
		err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM identity.login_identities WHERE ip = '192.0.2.60'`).Scan(&n)
		return err == nil && n == 1
	})
	if rows := testenv.Rows(t, s.pool, "identity.login_identities"); rows != 1 {
		t.Errorf("%d login identities after 1,000 reads and one session, want 1", rows)
	}
	entries, err := s.redisClient().XRange(t.Context(), events.TransactionStream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var logins int
	for _, e := range entries {
		if e.Values["eventType"] == events.TypeLoginIdentityRecorded {
			logins++
		}
	}
	if logins != 1 {
		t.Errorf("%d login events after 1,000 reads and one session, want 1", logins)
	}
}
