package cart

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// placed is an order the fake orders service made.
type placed struct {
	ID     string
	UserID string
	Key    string
	Lines  []OrderLine
}

// fakeShop plays the catalog and the orders service, sharing one catalog,
// with the rules of the real ones: unknown or inactive products are
// refused, a price that is not the catalog's is a 409, and an idempotency
// key orders once per user.
type fakeShop struct {
	mu      sync.Mutex
	catalog map[string]Product
	orders  []placed
	// beforePlace, when set, runs as each order arrives.
	beforePlace func()
}

func newFakeShop() *fakeShop {
	return &fakeShop{catalog: map[string]Product{
		"p1": {ID: "p1", DisplayName: "Puma Men Running Shoes", PriceCents: 3999, Active: true},
		"p2": {ID: "p2", DisplayName: "Nike Women Tee", PriceCents: 1500, Active: true},
		"p3": {ID: "p3", DisplayName: "Old Puma Cap", PriceCents: 999, Active: false},
	}}
}

func (f *fakeShop) LookupProducts(_ context.Context, ids []string) (map[string]Product, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]Product{}
	for _, id := range ids {
		if p, ok := f.catalog[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

func (f *fakeShop) PlaceOrder(ctx context.Context, lines []OrderLine, key string) (PlacedOrder, error) {
	id, ok := auth.FromContext(ctx)
	if !ok {
		return PlacedOrder{}, errs.Unauthorized("unauthorized", "no identity")
	}
	if f.beforePlace != nil {
		f.beforePlace()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range lines {
		p, ok := f.catalog[l.ProductID]
		if !ok || !p.Active {
			return PlacedOrder{}, errs.Unprocessable("unknown_product", "product %s does not exist or is no longer sold", l.ProductID)
		}
		if l.PriceCents != p.PriceCents {
			return PlacedOrder{}, errs.Conflict("price_changed", "the price of product %s changed", l.ProductID)
		}
	}
	status, order := http.StatusCreated, placed{}
	for _, o := range f.orders {
		if o.UserID == id.UserID && o.Key == key {
			status, order = http.StatusOK, o
		}
	}
	if status == http.StatusCreated {
		order = placed{ID: "o" + strconv.Itoa(len(f.orders)+1), UserID: id.UserID, Key: key, Lines: lines}
		f.orders = append(f.orders, order)
	}
	body, err := json.Marshal(map[string]any{"orderId": order.ID, "userId": order.UserID, "items": order.Lines})
	if err != nil {
		return PlacedOrder{}, err
	}
	return PlacedOrder{ID: order.ID, Status: status, Body: body}, nil
}

// setPrice makes the catalog sell product id, which it has, at cents.
func (f *fakeShop) setPrice(id string, cents int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.catalog[id]
	if !ok {
		panic("setPrice of a product the fake catalog does not have: " + id)
	}
	p.PriceCents = cents
	f.catalog[id] = p
}

// drop takes product id out of the catalog, as a product that vanished.
func (f *fakeShop) drop(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.catalog, id)
}

func (f *fakeShop) madeOrders() []placed {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]placed(nil), f.orders...)
}

// userHeader names the shopper of a test request: the test's stand-in for
// the gateway's sessions.
const userHeader = "X-Test-User"

// env is a cart service on real Redis in front of a fake shop, served
// over HTTP as the gateway serves it.
type env struct {
	t    *testing.T
	rdb  redis.UniversalClient
	shop *fakeShop
	cfg  Config
	svc  *Service
	srv  *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, rdb: testenv.Redis(t), shop: newFakeShop(), cfg: Config{KeyPrefix: testenv.Name(t, "gw") + ":"}}
	e.svc, e.srv = e.start()
	return e
}

// start starts another cart service with the env's config, Redis and shop.
func (e *env) start() (*Service, *httptest.Server) {
	e.t.Helper()
	log := testenv.Logger(e.t)
	svc, err := New(e.rdb, e.shop, e.shop, e.cfg, log)
	if err != nil {
		e.t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(func(pattern string, h web.HandlerFunc) { mux.Handle(pattern, web.Handle(log, h)) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get(userHeader); u != "" {
			r = r.WithContext(auth.WithIdentity(r.Context(), auth.Identity{UserID: u}))
		}
		mux.ServeHTTP(w, r)
	}))
	e.t.Cleanup(srv.Close)
	return svc, srv
}

// do sends method path with body (JSON text, or none when empty) as user
// ("" for none) to srv and returns the response with its body read.
func do(t *testing.T, srv *httptest.Server, user, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	rq := testenv.Request{Method: method, URL: srv.URL + path, Header: http.Header{}}
	if body != "" {
		rq.Body = body
	}
	if user != "" {
		rq.Header.Set(userHeader, user)
	}
	return testenv.Do(t, srv.Client(), rq)
}

func (e *env) do(user, method, path, body string) (*http.Response, []byte) {
	e.t.Helper()
	return do(e.t, e.srv, user, method, path, body)
}

func (e *env) cart(user string) View {
	e.t.Helper()
	resp, body := e.do(user, "GET", "/api/v1/cart", "")
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /api/v1/cart: %s %s", resp.Status, body)
	}
	var v View
	testenv.DecodeJSON(e.t, body, &v)
	return v
}

// qty is how many of a product a test puts in a cart.
type qty struct {
	id string
	n  int
}

// put puts each of qs in user's cart, in order, as the shopper does.
func (e *env) put(user string, qs ...qty) {
	e.t.Helper()
	for _, q := range qs {
		resp, body := e.do(user, "PUT", "/api/v1/cart/items/"+q.id, `{"qty":`+strconv.Itoa(q.n)+`}`)
		if resp.StatusCode != http.StatusOK {
			e.t.Fatalf("PUT %s qty %d: %s %s", q.id, q.n, resp.Status, body)
		}
	}
}

func errorOf(t *testing.T, body []byte) web.ErrorDetail {
	t.Helper()
	var eb web.ErrorBody
	testenv.DecodeJSON(t, body, &eb)
	return eb.Error
}
