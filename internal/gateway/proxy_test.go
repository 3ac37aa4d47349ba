package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
)

func TestProxyRoutes(t *testing.T) {
	t.Parallel()
	e, token, userID := newShopper(t)
	// An order of this user, for GET /api/v1/orders/{id}.
	resp, body := e.do(req{method: "POST", path: "/api/v1/orders", token: token, body: map[string]any{
		"items": []map[string]any{{"productId": "p1", "qty": 1, "priceCents": 3999}},
	}, header: http.Header{"Idempotency-Key": {"k-1"}}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/orders: %s %s", resp.Status, body)
	}
	if got := e.fakes.ordersRec.last(t, "/orders").Header.Get("Idempotency-Key"); got != "k-1" {
		t.Errorf("orders got Idempotency-Key %q, want k-1", got)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/orders/o1" {
		t.Errorf("Location %q, want /api/v1/orders/o1", loc)
	}

	tests := []struct {
		name       string
		path       string
		public     bool
		rec        *recorder
		wantPath   string
		wantQuery  string
		wantStatus int
	}{
		{"product search", "/api/v1/products?q=puma&limit=5", false, &e.fakes.products, "/products", "q=puma&limit=5", 200},
		{"product", "/api/v1/products/p2", false, &e.fakes.products, "/products/p2", "", 200},
		{"missing product", "/api/v1/products/nope", false, &e.fakes.products, "/products/nope", "", 404},
		{"categories", "/api/v1/categories", false, &e.fakes.products, "/categories", "", 200},
		{"image", "/api/v1/products/p1/image.svg", true, &e.fakes.products, "/products/p1/image.svg", "", 200},
		{"image, service path", "/products/p1/image.svg", true, &e.fakes.products, "/products/p1/image.svg", "", 200},
		{"order", "/api/v1/orders/o1", false, &e.fakes.ordersRec, "/orders/o1", "", 200},
		{"order list is the history", "/api/v1/orders?limit=10", false, &e.fakes.historyRec, "/history", "limit=10", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq := req{method: "GET", path: tt.path}
			if !tt.public {
				rq.token = token
			}
			resp, body := e.do(rq)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s: %s %s, want %d", tt.path, resp.Status, body, tt.wantStatus)
			}
			got := tt.rec.last(t, tt.wantPath)
			if got.Query != tt.wantQuery {
				t.Errorf("service query %q, want %q", got.Query, tt.wantQuery)
			}
			if tt.public {
				if c := sessionCookieOf(resp); c != nil {
					t.Errorf("public route set a session cookie")
				}
				if got.IdentityErr != nil || got.Identity.Role != auth.RoleReader || got.Identity.UserID != "" {
					t.Errorf("public route: service identity %+v (%v), want an anonymous reader's", got.Identity, got.IdentityErr)
				}
				return
			}
			if got.IdentityErr != nil || got.Identity.Role != auth.RoleShopper || got.Identity.UserID != userID {
				t.Errorf("service identity %+v (%v), want user %s", got.Identity, got.IdentityErr, userID)
			}
		})
	}

	// Ids that are not ids never reach a service.
	resp, _ = e.do(req{method: "GET", path: "/api/v1/products/bad.id", token: token})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET product bad.id: %s, want 404", resp.Status)
	}
	for _, r := range e.fakes.products.all() {
		if r.Path == "/products/bad.id" {
			t.Errorf("products service got a request for bad.id")
		}
	}
	resp, body = e.do(req{method: "GET", path: "/api/v1/nothing", token: token})
	if resp.StatusCode != http.StatusNotFound || errorOf(t, body).Code != "not_found" {
		t.Errorf("GET /api/v1/nothing: %s %s, want a JSON 404", resp.Status, body)
	}
}

func TestServiceDown(t *testing.T) {
	t.Parallel()
	// The slow service answers only when the request is given up.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(slow.Close)
	// The rude service answers 401: the gateway's secret is not its.
	rude := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(rude.Close)
	// Nothing answers at down: the service is down.
	down := "http://" + testenv.DeadAddr(t)

	tests := []struct {
		name       string
		products   string
		method     string
		path       string
		body       any
		wantStatus int
		wantCode   string
		tutorial   bool
	}{
		{"proxy, down", down, "GET", "/api/v1/products", nil, 503, "unavailable", false},
		{"proxy, slow", slow.URL, "GET", "/api/v1/products", nil, 504, "upstream_timeout", false},
		{"proxy, 401", rude.URL, "GET", "/api/v1/products/p1", nil, 502, "bad_gateway", false},
		{"cart, down", down, "PUT", "/api/v1/cart/items/p1", map[string]int{"qty": 1}, 503, "unavailable", false},
		{"tutorial, down", down, "POST", "/products/getProductsByFilter", map[string]string{}, 503, "unavailable", true},
		{"tutorial, slow", slow.URL, "POST", "/products/getProductsByFilter", map[string]string{}, 504, "upstream_timeout", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.ProductsURL = tt.products; c.UpstreamTimeout = 200 * time.Millisecond })
			resp, body := e.do(req{method: tt.method, path: tt.path, body: tt.body})
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s: %s %s, want %d", tt.method, tt.path, resp.Status, body, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			var code string
			if tt.tutorial {
				var env struct {
					Data  any
					Error struct{ Code, Message string }
					Auth  string
				}
				testenv.DecodeJSON(t, body, &env)
				if env.Data != nil || env.Auth == "" || env.Error.Message == "" {
					t.Errorf("envelope %s: want null data, the token and a message", body)
				}
				code = env.Error.Code
			} else {
				code = errorOf(t, body).Code
			}
			if code != tt.wantCode {
				t.Errorf("error code %q, want %q (body %s)", code, tt.wantCode, body)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := e.do(req{method: "GET", path: path}); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s %s", path, resp.Status, body)
		}
	}
	_, down := e.startGateway(func() Config { c := e.cfg; c.HistoryURL = "http://" + testenv.DeadAddr(t); return c }())
	resp, body := do(t, down, req{method: "GET", path: "/readyz"})
	var got struct {
		Status string
		Failed map[string]string
	}
	testenv.DecodeJSON(t, body, &got)
	if resp.StatusCode != http.StatusServiceUnavailable || got.Failed["history"] == "" || len(got.Failed) != 1 {
		t.Errorf("readyz with history down: %s %s, want 503 naming history only", resp.Status, body)
	}
	if l := testenv.Leak(string(body)); l != "" {
		t.Errorf("readyz with history down: %s leaks %s", body, l)
	}
}

func TestMount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	g := newGateway(t, e.rdb, e.signer, e.cfg)
	g.Mount("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("storefront")) }))
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/", 200, "storefront"},
		{"/products/p1", 200, "storefront"},
		{"/api/v2/x", 404, `{"error":{"code":"not_found","message":"no API route GET /api/v2/x"}}` + "\n"},
	} {
		resp, body := do(t, srv, req{method: "GET", path: tt.path})
		if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Mount after Handler did not panic")
		}
	}()
	g.Mount("/ops/", http.NotFoundHandler())
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{ProductsURL: "http://p", OrdersURL: "http://o", HistoryURL: "https://h:1"}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr bool
	}{
		{"ok", func(*Config) {}, false},
		{"no products url", func(c *Config) { c.ProductsURL = "" }, true},
		{"relative url", func(c *Config) { c.OrdersURL = "/orders" }, true},
		{"short ttl", func(c *Config) { c.SessionTTL = time.Millisecond }, true},
		{"origin with path", func(c *Config) { c.AllowedOrigins = []string{"https://a.example/x"} }, true},
		{"origin", func(c *Config) { c.AllowedOrigins = []string{"https://a.example"} }, false},
	}
	for _, tt := range tests {
		c := ok
		tt.mod(&c)
		if err := c.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("%s: Validate() = %v, want error: %v", tt.name, err, tt.wantErr)
		}
	}
	var got Config
	got.setDefaults()
	want := Config{SessionTTL: 24 * time.Hour, RateLimitSession: 50, RateLimitIP: 2000, MaxBody: 64 << 10,
		KeyPrefix: "gateway:", TransactionStream: "TRANSACTION_STREAM", UpstreamTimeout: 10 * time.Second,
		NewSessionsPerMinute: 60, EventStreamsPerSession: 4, EventStreamsPerIP: 64, EventStreamMaxAge: time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}
