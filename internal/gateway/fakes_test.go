package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// seen is a request as a fake service received it.
type seen struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
	// Identity is the verified identity header, or zero with IdentityErr.
	Identity    auth.Identity
	IdentityErr error
}

// recorder keeps the requests a fake service received.
type recorder struct {
	mu       sync.Mutex
	requests []seen
}

func (rec *recorder) wrap(signer *auth.Signer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s := seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)}
		s.Identity, s.IdentityErr = signer.Verify(r.Header.Get(auth.Header), time.Now())
		rec.mu.Lock()
		rec.requests = append(rec.requests, s)
		rec.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (rec *recorder) all() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.requests...)
}

// last returns the last request to path.
func (rec *recorder) last(t *testing.T, path string) seen {
	t.Helper()
	all := rec.all()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Path == path {
			return all[i]
		}
	}
	t.Fatalf("no request to %s among %d", path, len(all))
	return seen{}
}

// fakeOrder is an order the fake orders service made.
type fakeOrder struct {
	ID     string
	UserID string
	Key    string
	Items  []orderItem
}

// fakes are small implementations of the products, orders and history
// contracts, sharing one catalog. They require the gateway's signed
// identity, as the real services do.
type fakes struct {
	signer *auth.Signer

	mu      sync.Mutex
	catalog map[string]product
	orders  []fakeOrder
	history map[string][]historyOrder // by user id

	products, ordersRec, historyRec recorder
	productsSrv, ordersSrv, hist    *httptest.Server
}

func testCatalog() map[string]product {
	return map[string]product{
		"p1": {ID: "p1", DisplayName: "Puma Men Running Shoes", Brand: "Puma", MasterCategory: "Footwear", SubCategory: "Shoes",
			ArticleType: "Sports Shoes", Gender: "Men", AgeGroup: "Adults-Men", VariantName: "Blaze", Description: "Light shoes.",
			PriceCents: 3999, Currency: "USD", ImageURL: "/products/p1/image.svg", Active: true},
		"p2": {ID: "p2", DisplayName: "Nike Women Tee", Brand: "Nike", MasterCategory: "Apparel", SubCategory: "Topwear",
			ArticleType: "Tshirts", Gender: "Women", AgeGroup: "Adults-Women", VariantName: "Dri", Description: "A tee.",
			PriceCents: 1500, Currency: "USD", ImageURL: "/products/p2/image.svg", Active: true},
		"p3": {ID: "p3", DisplayName: "Old Puma Cap", Brand: "Puma", MasterCategory: "Accessories", SubCategory: "Headwear",
			PriceCents: 999, Currency: "USD", ImageURL: "/products/p3/image.svg", Active: false},
	}
}

func newFakes(t *testing.T, signer *auth.Signer) *fakes {
	f := &fakes{signer: signer, catalog: testCatalog(), history: map[string][]historyOrder{}}

	pm := http.NewServeMux()
	pm.HandleFunc("GET /products", f.search)
	pm.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		p, ok := f.product(r.PathValue("id"))
		if !ok {
			web.WriteJSON(w, http.StatusNotFound, errBody("not_found", "product not found"))
			return
		}
		web.WriteJSON(w, http.StatusOK, p)
	})
	pm.HandleFunc("GET /products/{id}/image.svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		io.WriteString(w, `<svg xmlns="http://www.w3.org/2000/svg"/>`)
	})
	pm.HandleFunc("POST /products/lookup", f.lookup)
	pm.HandleFunc("GET /categories", func(w http.ResponseWriter, r *http.Request) {
		web.WriteJSON(w, http.StatusOK, map[string]any{"categories": []map[string]any{{"name": "Footwear", "count": 1}}})
	})
	f.productsSrv = httptest.NewServer(f.products.wrap(signer, requireButReadyz(signer, pm)))
	t.Cleanup(f.productsSrv.Close)

	om := http.NewServeMux()
	om.Handle("POST /orders", signer.Require(http.HandlerFunc(f.createOrder)))
	om.Handle("GET /orders/{id}", signer.Require(http.HandlerFunc(f.getOrder)))
	om.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	f.ordersSrv = httptest.NewServer(f.ordersRec.wrap(signer, om))
	t.Cleanup(f.ordersSrv.Close)

	hm := http.NewServeMux()
	hm.Handle("GET /history", signer.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.FromContext(r.Context())
		f.mu.Lock()
		orders := append([]historyOrder{}, f.history[id.UserID]...)
		f.mu.Unlock()
		web.WriteJSON(w, http.StatusOK, map[string]any{"orders": orders})
	})))
	hm.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	f.hist = httptest.NewServer(f.historyRec.wrap(signer, hm))
	t.Cleanup(f.hist.Close)
	return f
}

// requireButReadyz serves mux behind signer.Require, but GET /readyz
// open, as the services' route tables do.
func requireButReadyz(signer *auth.Signer, mux *http.ServeMux) http.Handler {
	guarded := signer.Require(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

func errBody(code, msg string) web.ErrorBody {
	return web.ErrorBody{Error: web.ErrorDetail{Code: code, Message: msg}}
}

func (f *fakes) product(id string) (product, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.catalog[id]
	return p, ok
}

func (f *fakes) setPrice(id string, cents int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.catalog[id]
	p.PriceCents = cents
	f.catalog[id] = p
}

func (f *fakes) madeOrders() []fakeOrder {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeOrder(nil), f.orders...)
}

func (f *fakes) search(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil {
		limit = 24
	}
	f.mu.Lock()
	var out []product
	for _, id := range []string{"p1", "p2", "p3"} {
		p, ok := f.catalog[id]
		if ok && p.Active && strings.Contains(strings.ToLower(p.DisplayName), q) && len(out) < limit {
			out = append(out, p)
		}
	}
	f.mu.Unlock()
	web.WriteJSON(w, http.StatusOK, map[string]any{"products": out, "total": len(out), "limit": limit, "offset": 0})
}

func (f *fakes) lookup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		IDs []string `json:"ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.IDs) == 0 || len(req.IDs) > 100 {
		web.WriteJSON(w, http.StatusBadRequest, errBody("invalid_ids", "1 to 100 ids"))
		return
	}
	out := []product{}
	for _, id := range req.IDs {
		if p, ok := f.product(id); ok {
			out = append(out, p)
		}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"products": out})
}

func (f *fakes) createOrder(w http.ResponseWriter, r *http.Request) {
	id, _ := auth.FromContext(r.Context())
	var req struct {
		Items []struct {
			ProductID  string `json:"productId"`
			Qty        int    `json:"qty"`
			PriceCents *int64 `json:"priceCents"`
		} `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Items) == 0 {
		web.WriteJSON(w, http.StatusBadRequest, errBody("invalid_json", "bad order"))
		return
	}
	var items []orderItem
	for _, it := range req.Items {
		p, ok := f.product(it.ProductID)
		if !ok || !p.Active {
			web.WriteJSON(w, http.StatusUnprocessableEntity, errBody("unknown_product", "product "+it.ProductID+" does not exist or is no longer sold"))
			return
		}
		if it.PriceCents != nil && *it.PriceCents != p.PriceCents {
			web.WriteJSON(w, http.StatusConflict, errBody("price_changed", "the price of product "+it.ProductID+" changed"))
			return
		}
		items = append(items, orderItem{ProductID: it.ProductID, Qty: it.Qty, PriceCents: p.PriceCents})
	}
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	status, order := http.StatusCreated, fakeOrder{}
	for _, o := range f.orders {
		if key != "" && o.UserID == id.UserID && o.Key == key {
			status, order = http.StatusOK, o
		}
	}
	if status == http.StatusCreated {
		order = fakeOrder{ID: "o" + strconv.Itoa(len(f.orders)+1), UserID: id.UserID, Key: key, Items: items}
		f.orders = append(f.orders, order)
	}
	f.mu.Unlock()
	w.Header().Set("Location", "/orders/"+order.ID)
	web.WriteJSON(w, status, map[string]any{"orderId": order.ID, "userId": order.UserID, "status": 1, "statusName": "CREATED", "items": order.Items})
}

func (f *fakes) getOrder(w http.ResponseWriter, r *http.Request) {
	id, _ := auth.FromContext(r.Context())
	for _, o := range f.madeOrders() {
		if o.ID == r.PathValue("id") && o.UserID == id.UserID {
			web.WriteJSON(w, http.StatusOK, map[string]any{"orderId": o.ID, "userId": o.UserID})
			return
		}
	}
	web.WriteJSON(w, http.StatusNotFound, errBody("not_found", "order not found"))
}

// env is a gateway on real Redis in front of the fakes.
type env struct {
	t      *testing.T
	rdb    redis.UniversalClient
	signer *auth.Signer
	fakes  *fakes
	cfg    Config
	gw     *Gateway
	srv    *httptest.Server
}

func testSigner(t *testing.T) *auth.Signer {
	secret := make([]byte, 32)
	rand.Read(secret)
	s, err := auth.NewSigner(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newEnv starts fakes and a gateway; mod may change the gateway's config.
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, rdb: testenv.Redis(t), signer: testSigner(t)}
	e.fakes = newFakes(t, e.signer)
	e.cfg = Config{
		ProductsURL:       e.fakes.productsSrv.URL,
		OrdersURL:         e.fakes.ordersSrv.URL,
		HistoryURL:        e.fakes.hist.URL,
		KeyPrefix:         testenv.Name(t, "gw") + ":",
		TransactionStream: testenv.Name(t, "tx"),
	}
	if mod != nil {
		mod(&e.cfg)
	}
	e.gw, e.srv = e.startGateway(e.cfg)
	return e
}

// startGateway starts another gateway with cfg on the env's Redis.
func (e *env) startGateway(cfg Config) (*Gateway, *httptest.Server) {
	e.t.Helper()
	return startGateway(e.t, e.rdb, e.signer, cfg)
}

// newGateway is New with a logger to the test log; an error fails the
// test.
func newGateway(t *testing.T, rdb redis.UniversalClient, signer *auth.Signer, cfg Config) *Gateway {
	t.Helper()
	g, err := New(rdb, signer, cfg, testenv.Logger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func startGateway(t *testing.T, rdb redis.UniversalClient, signer *auth.Signer, cfg Config) (*Gateway, *httptest.Server) {
	t.Helper()
	g := newGateway(t, rdb, signer, cfg)
	srv := httptest.NewServer(g.Handler())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		g.Run(t.Context())
	}()
	t.Cleanup(func() {
		<-ran
		srv.Close()
	})
	return g, srv
}

// req describes a request to the gateway.
type req struct {
	method, path string
	body         any // a string is sent as is, anything else as JSON
	token        string
	header       http.Header
}

// do sends rq to srv and returns the response with its body read.
func do(t *testing.T, srv *httptest.Server, rq req) (*http.Response, []byte) {
	t.Helper()
	header := rq.header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if rq.token != "" {
		header.Set("Authorization", "Bearer "+rq.token)
	}
	return testenv.Do(t, srv.Client(), testenv.Request{Method: rq.method, URL: srv.URL + rq.path, Body: rq.body, Header: header})
}

func (e *env) do(rq req) (*http.Response, []byte) {
	e.t.Helper()
	return do(e.t, e.srv, rq)
}

// session starts a session and returns its token and user id.
func (e *env) session() (token, userID string) {
	e.t.Helper()
	resp, body := e.do(req{method: "GET", path: "/api/v1/session"})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /api/v1/session: %s %s", resp.Status, body)
	}
	var s struct{ UserID, Auth string }
	testenv.DecodeJSON(e.t, body, &s)
	return s.Auth, s.UserID
}

// newShopper returns a gateway of the default configuration and the
// token and user id of a session that a shopper opened on it.
func newShopper(t *testing.T) (e *env, token, userID string) {
	t.Helper()
	e = newEnv(t, nil)
	token, userID = e.session()
	return e, token, userID
}

// errorOf returns the code of an /api/v1 error body.
func errorOf(t *testing.T, body []byte) web.ErrorDetail {
	t.Helper()
	var eb web.ErrorBody
	testenv.DecodeJSON(t, body, &eb)
	return eb.Error
}
