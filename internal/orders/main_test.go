package orders_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/orders"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
	"streamcart/internal/products"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// waitLong bounds every wait for background work (relay, consumer): generous,
// so that a busy machine slows the tests down but does not fail them.
const waitLong = 20 * time.Second

// env is one test's orders service: its own database holding both the
// orders and the products schema, the real products service serving the
// sample catalog over HTTP, fresh stream names on the shared Redis, and the
// orders HTTP API.
type env struct {
	pool    *pgxpool.Pool
	rdb     redis.UniversalClient
	catalog *products.Service
	cfg     orders.Config
	svc     *orders.Service
	api     *httptest.Server
	signer  *auth.Signer
	// catalogCalls counts the requests the products service served, by
	// route pattern ("POST /products/lookup").
	catalogCalls *calls
}

// calls counts requests by route pattern. It is safe for concurrent use.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

// count wraps h, counting the requests it serves.
func (c *calls) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n[r.Method+" "+r.URL.Path]++
	})
}

// of returns how many requests for method and path were served.
func (c *calls) of(method, path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method+" "+path]
}

// newEnv builds an env. configure, if not nil, adjusts the service's
// Config before the service is made. The service's background work (relay,
// consumer, reconciler) runs only after start.
func newEnv(t *testing.T, configure func(*orders.Config)) *env {
	t.Helper()
	ctx := t.Context()
	log := testenv.Logger(t)
	pool := testenv.Pool(t)
	rdb := testenv.Redis(t)

	if err := products.Migrate(ctx, pool); err != nil {
		t.Fatalf("products.Migrate: %v", err)
	}
	productsStream := testenv.Name(t, "products-stream")
	catalog, err := products.NewService(pool, rdb, products.Config{
		KeyPrefix: testenv.Name(t, "products"), ProductKey: productKey, ProductsStream: productsStream,
		Outbox: outbox.Config{Poll: 50 * time.Millisecond},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := catalog.Seed(ctx); err != nil {
		t.Fatalf("products Seed: %v", err)
	}
	signer := servicetest.Signer()
	catalogCalls := &calls{n: map[string]int{}}
	productsAPI := httptest.NewServer(catalogCalls.count(products.NewHandler(catalog, signer)))
	t.Cleanup(productsAPI.Close)

	testenv.Migrate(t, pool, orders.Migrate)
	cfg := orders.Config{
		OrderKey:       orderKey,
		ProductKey:     productKey,
		ProductsStream: productsStream,
		ProductsURL:    productsAPI.URL,
		Signer:         signer,
		OrdersStream:   testenv.Name(t, "orders"),
		PaymentsStream: testenv.Name(t, "payments"),
		// Long enough never to fire on its own: tests that want the
		// reconciler call Reconcile, or shorten these.
		StuckAfter:        time.Hour,
		ReconcileInterval: time.Hour,
		ServiceConfig: outbox.ServiceConfig{
			Consumer: stream.Config{
				Block: 100 * time.Millisecond, MinIdle: 10 * time.Second, ClaimInterval: time.Second,
				HandlerTimeout: 4 * time.Second, RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
			},
			Outbox: outbox.Config{Poll: 50 * time.Millisecond},
		},
	}
	if configure != nil {
		configure(&cfg)
	}
	svc, err := orders.NewService(pool, rdb, cfg, log)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	api := httptest.NewServer(orders.NewHandler(svc, signer))
	t.Cleanup(api.Close)
	return &env{pool: pool, rdb: rdb, catalog: catalog, cfg: cfg, svc: svc, api: api, signer: signer, catalogCalls: catalogCalls}
}

// start runs the service's background work, and the relay of the
// catalog's changes, until the test ends.
func (e *env) start(t *testing.T) {
	t.Helper()
	testenv.Run(t, e.catalog.Run)
	testenv.Run(t, e.svc.Run)
}

// newService returns another Service over e's database and streams, like
// a second replica.
func (e *env) newService(t *testing.T) *orders.Service {
	t.Helper()
	svc, err := orders.NewService(e.pool, e.rdb, e.cfg, testenv.Logger(t))
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return svc
}

// forSale returns n distinct products of the sample catalog that are for
// sale: active, with a price.
func forSale(t *testing.T, n int) []products.Product {
	t.Helper()
	var out []products.Product
	for _, p := range products.SampleCatalog() {
		if p.Active && p.PriceCents > 0 && len(out) < n {
			out = append(out, p)
		}
	}
	if len(out) < n {
		t.Fatalf("the sample catalog has %d active products, want %d", len(out), n)
	}
	return out
}

// identity is the identity the gateway would sign for userID.
func identity(userID string) auth.Identity {
	return auth.Identity{Role: auth.RoleShopper, UserID: userID, SessionID: "s-" + userID, IP: "192.0.2.7", UserAgent: "orders-test"}
}

// reply is an HTTP response of the orders API.
type reply struct {
	status int
	body   []byte
	// location and retryAfter are the Location and Retry-After headers.
	location, retryAfter string
}

// order decodes the reply as one order.
func (r reply) order(t *testing.T) orders.Order {
	t.Helper()
	var o orders.Order
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("decode order from %s: %v", r.body, err)
	}
	return o
}

// orders decodes the reply as a list of orders.
func (r reply) orders(t *testing.T) []orders.Order {
	t.Helper()
	var l struct {
		Orders []orders.Order `json:"orders"`
	}
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode orders from %s: %v", r.body, err)
	}
	return l.Orders
}

// code returns the error code of an error reply, "" for any other.
func (r reply) code() string {
	var b web.ErrorBody
	if json.Unmarshal(r.body, &b) != nil {
		return ""
	}
	return b.Error.Code
}

// do sends a request to the orders API as userID ("" sends no identity),
// with an Idempotency-Key header when key is not empty and body as JSON
// when not nil.
func (e *env) do(t *testing.T, method, path, userID, key string, body any) reply {
	t.Helper()
	r, err := e.send(t, method, path, userID, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is do for other goroutines than the test's: it returns the error.
func (e *env) send(t *testing.T, method, path, userID, key string, body any) (reply, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.api.URL+path, r)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if userID != "" {
		req.Header.Set(auth.Header, e.signer.Sign(identity(userID)))
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := e.api.Client().Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return reply{status: resp.StatusCode, body: bytes.TrimSpace(b), location: resp.Header.Get("Location"),
		retryAfter: resp.Header.Get("Retry-After")}, nil
}

// create posts req to /orders as userID.
func (e *env) create(t *testing.T, userID, key string, req orders.CreateRequest) reply {
	t.Helper()
	return e.do(t, http.MethodPost, "/orders", userID, key, req)
}

// mustCreate creates an order for userID and fails the test unless it is
// created.
func (e *env) mustCreate(t *testing.T, userID string, req orders.CreateRequest) orders.Order {
	t.Helper()
	r := e.create(t, userID, "", req)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /orders for %s = %d %s, want 201", userID, r.status, r.body)
	}
	return r.order(t)
}

// cart returns a request for one of each of ps, with qty of each.
func cart(qty int, ps ...products.Product) orders.CreateRequest {
	var req orders.CreateRequest
	for _, p := range ps {
		req.Items = append(req.Items, orders.ItemRequest{ProductID: p.ID, Qty: qty})
	}
	return req
}

// relayed waits until the outbox is empty: every event written so far is
// on its stream. It needs start.
func (e *env) relayed(t *testing.T) {
	t.Helper()
	testenv.WaitFor(t, waitLong, "the outbox relayed", func() bool {
		n, err := e.svc.OutboxPending(t.Context())
		return err == nil && n == 0
	})
}

// orderKey signs the OrderPlaced events of these tests and checks them in
// the service, as the orders service's key does in a deployment;
// productKey does the same for the ProductChanged events.
var (
	orderKey   = servicetest.OrderKey()
	productKey = servicetest.ProductKey()
)

// placed returns the OrderPlaced events on the orders stream, in stream
// order, with their event ids.
func (e *env) placed(t *testing.T) []placedEvent {
	t.Helper()
	var out []placedEvent
	for _, m := range testenv.Entries(t, e.rdb, e.cfg.OrdersStream, stream.Decode) {
		if m.Type != events.TypeOrderPlaced {
			t.Fatalf("orders stream entry %s is a %s, want only OrderPlaced", m.EntryID, m.Type)
		}
		p, err := events.ParseOrderPlaced(m, e.cfg.OrderKey)
		if err != nil {
			t.Fatalf("orders stream entry %s: %v", m.EntryID, err)
		}
		out = append(out, placedEvent{eventID: m.ID, OrderPlaced: p})
	}
	return out
}

// placedEvent is an OrderPlaced with its event id.
type placedEvent struct {
	eventID string
	events.OrderPlaced
}

// placedFor returns the OrderPlaced events of orderID on the orders stream.
func (e *env) placedFor(t *testing.T, orderID string) []placedEvent {
	t.Helper()
	all := e.placed(t)
	return slices.DeleteFunc(all, func(p placedEvent) bool { return p.OrderID != orderID })
}

// pay appends ev to the payments stream, as event eventID (a new id when
// empty), and returns its entry id.
func (e *env) pay(t *testing.T, ev events.PaymentProcessed, eventID string) string {
	t.Helper()
	se := ev.Event()
	se.ID = eventID
	return servicetest.Publish(t, e.rdb, e.cfg.PaymentsStream, se)[0]
}

// paymentsHandled waits until the service has acknowledged (or dead-lettered)
// every entry of the payments stream. It needs start.
func (e *env) paymentsHandled(t *testing.T) {
	t.Helper()
	testenv.WaitFor(t, waitLong, "payments stream handled", func() bool {
		return testenv.Handled(t.Context(), e.rdb, orders.Group, e.cfg.PaymentsStream)
	})
}

// outcome returns the PaymentProcessed the payments service would publish
// for o.
func outcome(o orders.Order, status events.Status, paymentID string) events.PaymentProcessed {
	p := events.PaymentProcessed{OrderID: o.ID, PaymentID: paymentID, UserID: o.UserID, Status: status, AmountCents: o.AmountCents}
	if status == events.StatusPaymentFail {
		p.Reason = "declined"
	}
	return p
}

// paidAndDeclined creates two orders of u-1, starts the service and
// delivers their payment outcomes: payment pay-1 pays the first, pay-2
// declines the second.
func (e *env) paidAndDeclined(t *testing.T) (paid, declined orders.Order) {
	t.Helper()
	ps := forSale(t, 2)
	paid = e.mustCreate(t, "u-1", cart(1, ps[0]))
	declined = e.mustCreate(t, "u-1", cart(1, ps[1]))
	e.start(t)
	e.pay(t, outcome(paid, events.StatusPaymentSuccess, "pay-1"), "")
	e.pay(t, outcome(declined, events.StatusPaymentFail, "pay-2"), "")
	e.paymentsHandled(t)
	return paid, declined
}

// current returns order o as the service has it now, read as its user
// reads it, failing the test on an error.
func (e *env) current(t *testing.T, o orders.Order) orders.Order {
	t.Helper()
	got, err := e.svc.Get(t.Context(), o.UserID, o.ID)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", o.UserID, o.ID, err)
	}
	return got
}

// age makes the orders' OrderPlaced look written d ago, as if the
// reconciler had waited that long. Only the test can turn the clock.
func (e *env) age(t *testing.T, d time.Duration, orderIDs ...string) {
	t.Helper()
	tag, err := e.pool.Exec(t.Context(),
		`UPDATE orders.orders SET published_at = now() - $1::interval WHERE order_id = ANY($2)`, d, orderIDs)
	if err != nil {
		t.Fatal(err)
	}
	if int(tag.RowsAffected()) != len(orderIDs) {
		t.Fatalf("aged %d orders, want %d", tag.RowsAffected(), len(orderIDs))
	}
}
