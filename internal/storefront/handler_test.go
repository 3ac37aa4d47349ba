package storefront_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/storefront"
)

// Handler tests: the storefront against a fake API, without a browser.

// fakeAPI plays the gateway's /api/v1 with two products and one cart.
type fakeAPI struct {
	mu       sync.Mutex
	sessions atomic.Int32 // sessions started
	price    int64        // the catalog price of p1
	cart     map[string]int
	checkout func(w http.ResponseWriter) // answers POST /api/v1/cart/checkout
	srv      *httptest.Server
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{price: 3999, cart: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/products", func(w http.ResponseWriter, r *http.Request) {
		q := strings.ToLower(r.URL.Query().Get("q"))
		var out []map[string]any
		for _, p := range f.products() {
			if strings.Contains(strings.ToLower(p["displayName"].(string)), q) {
				out = append(out, p)
			}
		}
		writeJSON(w, 200, map[string]any{"products": out, "total": len(out), "limit": 12, "offset": 0})
	})
	mux.HandleFunc("GET /api/v1/categories", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"categories": []map[string]any{{"name": "Footwear", "count": 2, "subCategories": []map[string]any{{"name": "Shoes", "count": 2}}}}})
	})
	mux.HandleFunc("GET /api/v1/cart", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, f.cartView()) })
	mux.HandleFunc("PUT /api/v1/cart/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Qty int }
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.cart[r.PathValue("id")] = body.Qty
		f.mu.Unlock()
		writeJSON(w, 200, f.cartView())
	})
	mux.HandleFunc("POST /api/v1/cart/checkout", func(w http.ResponseWriter, r *http.Request) { f.checkout(w) })
	f.srv = httptest.NewServer(f.sessionCookie(mux))
	t.Cleanup(f.srv.Close)
	return f
}

// expiredToken is a session token the fake API no longer knows.
const expiredToken = "expired"

// sessionCookie starts a session for a request without one, and refuses
// expiredToken with 401 session_expired, clearing the cookie, as the
// gateway does; the catalog's reads need no session.
func (f *fakeAPI) sessionCookie(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/products") || r.URL.Path == "/api/v1/categories" {
			next.ServeHTTP(w, r)
			return
		}
		c, err := r.Cookie(storefront.SessionCookie)
		if err == nil && c.Value == expiredToken {
			http.SetCookie(w, &http.Cookie{Name: storefront.SessionCookie, Path: "/", MaxAge: -1, HttpOnly: true})
			writeJSON(w, 401, map[string]any{"error": map[string]string{"code": "session_expired", "message": "the session has expired"}})
			return
		}
		if err != nil {
			n := f.sessions.Add(1)
			c = &http.Cookie{Name: storefront.SessionCookie, Value: fmt.Sprintf("token-%d", n), Path: "/", HttpOnly: true}
		}
		http.SetCookie(w, c)
		next.ServeHTTP(w, r)
	})
}

func (f *fakeAPI) products() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []map[string]any{
		{"id": "p1", "displayName": "Puma Running Shoes", "brand": "Puma", "priceCents": f.price, "imageUrl": "/products/p1/image.svg", "active": true},
		{"id": "p2", "displayName": "Puma <b>Bold</b> Flip Flops", "brand": "Puma", "priceCents": 1250, "imageUrl": "/products/p2/image.svg", "active": true},
	}
}

func (f *fakeAPI) cartView() map[string]any {
	items := []map[string]any{}
	var total int64
	for _, p := range f.products() {
		f.mu.Lock()
		qty := f.cart[p["id"].(string)]
		f.mu.Unlock()
		if qty > 0 {
			price := p["priceCents"].(int64)
			items = append(items, map[string]any{"productId": p["id"], "displayName": p["displayName"], "imageUrl": p["imageUrl"],
				"priceCents": price, "qty": qty, "lineCents": price * int64(qty), "available": true})
			total += price * int64(qty)
		}
	}
	return map[string]any{"items": items, "totalCents": total}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newShop(t *testing.T, apiURL string, cfg storefront.Config) http.Handler {
	t.Helper()
	cfg.APIURL = apiURL
	s, err := storefront.New(cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

func TestSearchIsEscaped(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	h := newShop(t, api.srv.URL, storefront.Config{})
	const attack = "<script>alert(1)</script>"
	for _, target := range []string{"/?q=" + url.QueryEscape(attack), "/fragments/products?q=" + url.QueryEscape(attack)} {
		code, body, _ := testenv.Get(t, h, target)
		if code != 200 {
			t.Errorf("GET %s: status %d", target, code)
		}
		if strings.Contains(body, attack) {
			t.Errorf("GET %s: the search text is in the page unescaped", target)
		}
		if !strings.Contains(body, "No products match “&lt;script&gt;alert(1)&lt;/script&gt;”") {
			t.Errorf("GET %s: no escaped empty state in:\n%s", target, body)
		}
	}
	// Product data is escaped too.
	_, body, _ := testenv.Get(t, h, "/?q=bold")
	if strings.Contains(body, "<b>Bold</b>") || !strings.Contains(body, "Puma &lt;b&gt;Bold&lt;/b&gt; Flip Flops") {
		t.Errorf("a product name with markup is not escaped:\n%s", body)
	}
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	h := newShop(t, api.srv.URL, storefront.Config{})
	code, body, header := testenv.Get(t, h, "/?q=puma")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{"Puma Running Shoes", "$39.99", "$12.50", `src="/products/p1/image.svg"`, "Showing 1–2 of 2 products for “puma”", `<option value="Footwear/Shoes">Shoes (2)</option>`, "Add to cart"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	// Looking starts no session (TestNoSessionIsStartedToShowNothing).
	if n := api.sessions.Load(); n != 0 {
		t.Errorf("one page view started %d sessions, want none", n)
	}
	if c := header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("Set-Cookie %q, want none", c)
	}
	if csp := header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestAddToCartAndPriceChange(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	h := newShop(t, api.srv.URL, storefront.Config{})
	cookie := "sc_session=mine"

	code, body, _ := testenv.PostForm(t, h, "/cart/items", url.Values{"productId": {"p1"}}, "Accept", "application/json", "Cookie", cookie)
	if code != 200 || !strings.Contains(body, `"cartCount":1`) {
		t.Fatalf("add to cart: %d %s", code, body)
	}
	code, _, header := testenv.PostForm(t, h, "/cart/items", url.Values{"productId": {"p1"}, "return": {"/?q=puma"}}, "Cookie", cookie)
	if code != http.StatusSeeOther || header.Get("Location") != "/?q=puma" {
		t.Fatalf("add to cart without script: %d to %q", code, header.Get("Location"))
	}
	if code, _, header := testenv.PostForm(t, h, "/cart/items", url.Values{"productId": {"p1"}, "return": {"//evil.example"}}, "Cookie", cookie); code != http.StatusSeeOther || header.Get("Location") != "/" {
		t.Errorf("add to cart returned to %q, want /", header.Get("Location"))
	}
	if code, _, _ := testenv.PostForm(t, h, "/cart/items/p1", url.Values{"qty": {"100"}}, "Cookie", cookie); code != http.StatusBadRequest {
		t.Errorf("qty 100: status %d, want 400", code)
	}

	// The price changes between the cart page and Buy Now.
	api.mu.Lock()
	api.price = 4599
	api.mu.Unlock()
	api.checkout = func(w http.ResponseWriter) {
		writeJSON(w, 409, map[string]any{"error": map[string]string{"code": "price_changed", "message": "the price of product p1 is 45.99, not 39.99"}})
	}
	code, body, _ = testenv.PostForm(t, h, "/cart/checkout", url.Values{"seen": {"p1:3999"}}, "Cookie", cookie)
	if code != http.StatusConflict {
		t.Errorf("checkout: status %d, want 409", code)
	}
	if want := "The price of Puma Running Shoes changed to $45.99; review your cart."; !strings.Contains(body, want) {
		t.Errorf("checkout page lacks %q:\n%s", want, body)
	}

	api.checkout = func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, 429, map[string]any{"error": map[string]string{"code": "rate_limited", "message": "too many requests"}})
	}
	if code, body, _ := testenv.PostForm(t, h, "/cart/checkout", nil, "Cookie", cookie); code != 429 || !strings.Contains(body, "Wait a few seconds") {
		t.Errorf("rate limited checkout: %d, body lacks the plain-words message", code)
	}

	api.checkout = func(w http.ResponseWriter) { writeJSON(w, 201, map[string]any{"orderId": "o-123", "status": 1}) }
	if code, _, header := testenv.PostForm(t, h, "/cart/checkout", nil, "Cookie", cookie); code != http.StatusSeeOther || header.Get("Location") != "/orders/o-123" {
		t.Errorf("checkout: %d to %q, want 303 to /orders/o-123", code, header.Get("Location"))
	}
}

// A browser without a session sees an empty cart and no orders without
// the API being asked (which would start a session); its first write
// starts one.
func TestNoSessionIsStartedToShowNothing(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	h := newShop(t, api.srv.URL, storefront.Config{})
	for _, target := range []string{"/", "/cart", "/orders"} {
		code, _, header := testenv.Get(t, h, target)
		if code != http.StatusOK || header.Get("Set-Cookie") != "" {
			t.Errorf("GET %s without a session: %d with Set-Cookie %q, want 200 and none", target, code, header.Get("Set-Cookie"))
		}
	}
	if n := api.sessions.Load(); n != 0 {
		t.Errorf("%d sessions started by reading, want none", n)
	}
	code, _, header := testenv.PostForm(t, h, "/cart/items", url.Values{"productId": {"p1"}}, "Accept", "application/json")
	if code != http.StatusOK || !strings.HasPrefix(header.Get("Set-Cookie"), storefront.SessionCookie+"=token-") {
		t.Errorf("add to cart without a session: %d, Set-Cookie %q, want 200 and a new session", code, header.Get("Set-Cookie"))
	}
}

// An expired session shows as none: reads show nothing and clear the
// cookie, a write is sent again without it and starts a new session.
func TestExpiredSessionIsReplacedAtTheFirstWrite(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	h := newShop(t, api.srv.URL, storefront.Config{})
	expired := storefront.SessionCookie + "=" + expiredToken
	for _, target := range []string{"/cart", "/orders", "/"} {
		code, _, header := testenv.Get(t, h, target, "Cookie", expired)
		if code != http.StatusOK {
			t.Errorf("GET %s with an expired session: status %d, want 200", target, code)
		}
		if target != "/" && !strings.Contains(header.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("GET %s with an expired session: Set-Cookie %q, want the cookie cleared", target, header.Get("Set-Cookie"))
		}
	}
	code, _, header := testenv.PostForm(t, h, "/cart/items", url.Values{"productId": {"p1"}}, "Accept", "application/json", "Cookie", expired)
	cookies := header.Values("Set-Cookie")
	if code != http.StatusOK || len(cookies) != 1 || !strings.HasPrefix(cookies[0], storefront.SessionCookie+"=token-") {
		t.Errorf("add to cart with an expired session: %d, Set-Cookie %q, want 200 and one new session cookie", code, cookies)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	h := newShop(t, api.srv.URL, storefront.Config{})
	code, _, _ := testenv.PostForm(t, h, "/cart/checkout", nil, "Sec-Fetch-Site", "cross-site")
	if code != http.StatusForbidden {
		t.Errorf("cross-site checkout: status %d, want 403", code)
	}
}

func TestServiceDown(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.srv.Close()
	h := newShop(t, api.srv.URL, storefront.Config{})
	for _, target := range []string{"/", "/cart", "/orders", "/orders/o-1"} {
		// A shopper with a session: without one, the cart and orders
		// pages have nothing to ask the API.
		code, body, _ := testenv.Get(t, h, target, "Cookie", "sc_session=tok")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "Part of the shop is not answering right now") {
			t.Errorf("GET %s with the API down: %d, want 503 with a message", target, code)
		}
		if !strings.Contains(body, "</html>") {
			t.Errorf("GET %s with the API down: not a whole page", target)
		}
	}
}

// TestInProcess checks that the in-process transport serves from the
// handler as from the browser's address, with the answer intact.
func TestInProcess(t *testing.T) {
	t.Parallel()
	var gotAddr, gotXFF string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAddr, gotXFF = r.RemoteAddr, r.Header.Get("X-Forwarded-For")
		http.SetCookie(w, &http.Cookie{Name: storefront.SessionCookie, Value: "new"})
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"products": []any{}})
	})
	shop := newShop(t, "http://gateway.in-process", storefront.Config{Client: &http.Client{Transport: storefront.InProcess(h)}})
	req := httptest.NewRequest("GET", "/fragments/products", nil)
	req.RemoteAddr = "198.51.100.7:5555"
	code, body, header := testenv.Serve(shop, req)
	if gotAddr != "198.51.100.7:5555" || gotXFF != "" {
		t.Errorf("the API saw RemoteAddr %q, X-Forwarded-For %q; want the browser's address and none", gotAddr, gotXFF)
	}
	if c := header.Get("Set-Cookie"); !strings.HasPrefix(c, "sc_session=new") {
		t.Errorf("Set-Cookie %q, want the API's session cookie", c)
	}
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "The shop refused that request.") {
		t.Errorf("an API error 422 gave %d: %s", code, body)
	}
}
