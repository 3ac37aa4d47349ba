package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
)

// firstLimited sends rq until the answer is 429 and returns it, failing
// after 2*limit+1 requests: however they straddle a one-second window
// boundary, one window then holds more than limit of them.
func firstLimited(t *testing.T, srv *httptest.Server, rq req, limit int) (*http.Response, []byte) {
	t.Helper()
	for i := 0; i < 2*limit+1; i++ {
		resp, body := do(t, srv, rq)
		if resp.StatusCode == http.StatusTooManyRequests {
			return resp, body
		}
		if resp.StatusCode >= 300 {
			t.Fatalf("request %d: %s %s", i+1, resp.Status, body)
		}
	}
	t.Fatalf("no 429 after %d requests with a limit of %d", 2*limit+1, limit)
	return nil, nil
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	t.Run("session", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *Config) { c.RateLimitSession = 3 })
		token, _ := e.session()
		resp, body := firstLimited(t, e.srv, req{method: "GET", path: "/api/v1/session", token: token}, 3)
		if ra := resp.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q, want 1", ra)
		}
		if got := errorOf(t, body); got.Code != "rate_limited" || !strings.Contains(got.Message, "session") {
			t.Errorf("error %+v, want rate_limited naming the session", got)
		}
		// Another session is not limited.
		other, _ := e.session()
		if resp, body := e.do(req{method: "GET", path: "/api/v1/session", token: other}); resp.StatusCode != http.StatusOK {
			t.Errorf("other session: %s %s", resp.Status, body)
		}
	})
	t.Run("session, on two gateways", func(t *testing.T) {
		t.Parallel()
		// Each gateway takes two requests of a window at a time; the
		// session still gets no more than eight per window in all.
		const limit = 8
		e := newEnv(t, func(c *Config) { c.RateLimitSession = limit })
		g2, other := e.startGateway(e.cfg)
		for _, g := range []*Gateway{e.gw, g2} {
			testenv.WaitFor(t, 10*time.Second, "the revocations' subscription", func() bool { return revocationsKnown(g) })
		}
		token, _ := e.session()
		rq := req{method: "GET", path: "/api/v1/session", token: token}
		// However the requests straddle a window boundary, one window
		// holds more than limit of 2*limit+1.
		for i := 0; i < 2*limit+1; i++ {
			resp, body := do(t, []*httptest.Server{e.srv, other}[i%2], rq)
			if resp.StatusCode == http.StatusTooManyRequests {
				if ra := resp.Header.Get("Retry-After"); ra != "1" {
					t.Errorf("Retry-After %q, want 1", ra)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: %s %s", i+1, resp.Status, body)
			}
		}
		t.Fatalf("no 429 after %d requests with a limit of %d over two gateways", 2*limit+1, limit)
	})
	t.Run("ip, tutorial envelope", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *Config) { c.RateLimitIP = 3 })
		resp, body := firstLimited(t, e.srv, req{method: "POST", path: "/products/getProductsByFilter", body: `{}`}, 3)
		if ra := resp.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q, want 1", ra)
		}
		var env tutorialEnvelope
		testenv.DecodeJSON(t, body, &env)
		if env.Error == nil || env.Error.Code != "rate_limited" || string(env.Data) != "null" {
			t.Errorf("envelope %s, want null data and rate_limited", body)
		}
	})
	t.Run("ip, public route", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *Config) { c.RateLimitIP = 3 })
		resp, body := firstLimited(t, e.srv, req{method: "GET", path: "/api/v1/products/p1/image.svg"}, 3)
		if got := errorOf(t, body); got.Code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s, want rate_limited with Retry-After", resp.Status, body)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *Config) { c.RateLimitSession, c.RateLimitIP, c.NewSessionsPerMinute = -1, -1, -1 })
		token, _ := e.session()
		for i := range 20 {
			if resp, body := e.do(req{method: "GET", path: "/api/v1/session", token: token}); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: %s %s", i, resp.Status, body)
			}
		}
		keys, _ := e.rdb.Keys(t.Context(), e.cfg.KeyPrefix+"rl:*").Result()
		if len(keys) != 0 {
			t.Errorf("rate counters %q with limits disabled", keys)
		}
	})
}

// Without Redis, sessions are unavailable (503) but public routes are
// served: rate limiting fails open.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	dead := redis.NewClient(&redis.Options{Addr: testenv.DeadAddr(t), MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	cfg := e.cfg
	g := newGateway(t, dead, e.signer, cfg)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	resp, body := do(t, srv, req{method: "GET", path: "/api/v1/session"})
	if resp.StatusCode != http.StatusServiceUnavailable || errorOf(t, body).Code != "unavailable" {
		t.Errorf("session without Redis: %s %s, want 503 unavailable", resp.Status, body)
	}
	resp, body = do(t, srv, req{method: "POST", path: "/orders/createOrder", body: `{}`})
	var env tutorialEnvelope
	testenv.DecodeJSON(t, body, &env)
	if resp.StatusCode != http.StatusServiceUnavailable || env.Error == nil || env.Error.Code != "unavailable" {
		t.Errorf("tutorial route without Redis: %s %s, want 503 in the envelope", resp.Status, body)
	}
	resp, body = do(t, srv, req{method: "GET", path: "/api/v1/products/p1/image.svg"})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "<svg") {
		t.Errorf("public image without Redis: %s %s, want it served", resp.Status, body)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const origin = "https://shop.example"
	e := newEnv(t, func(c *Config) { c.AllowedOrigins = []string{origin} })
	tests := []struct {
		name       string
		rq         req
		wantStatus int
		want       map[string]string
	}{
		{"preflight", req{method: "OPTIONS", path: "/api/v1/cart/items/p1", header: http.Header{
			"Origin": {origin}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"authorization,content-type"},
		}}, 204, map[string]string{
			"Access-Control-Allow-Origin":      origin,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET, POST, PUT, DELETE, OPTIONS",
			"Access-Control-Allow-Headers":     "Authorization, Content-Type, Idempotency-Key, X-Request-Id",
			"Access-Control-Max-Age":           "600",
			"Vary":                             "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
		}},
		{"preflight, other origin", req{method: "OPTIONS", path: "/api/v1/cart", header: http.Header{
			"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"DELETE"},
		}}, 403, map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}},
		{"request", req{method: "GET", path: "/api/v1/session", header: http.Header{"Origin": {origin}}}, 200, map[string]string{
			"Access-Control-Allow-Origin":      origin,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers":    "Retry-After, X-Request-Id, Location, Session-Token",
			"Vary":                             "Origin",
		}},
		{"request, proxied", req{method: "GET", path: "/api/v1/products", header: http.Header{"Origin": {origin}}}, 200, map[string]string{
			"Access-Control-Allow-Origin": origin,
		}},
		{"request, other origin", req{method: "GET", path: "/api/v1/session", header: http.Header{"Origin": {"https://shop.example.evil"}}}, 200, map[string]string{
			"Access-Control-Allow-Origin": "", "Access-Control-Allow-Credentials": "", "Vary": "Origin",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(tt.rq)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s: %s %s, want %d", tt.rq.method, tt.rq.path, resp.Status, body, tt.wantStatus)
			}
			got := map[string]string{}
			for h := range tt.want {
				got[h] = strings.Join(resp.Header.Values(h), ", ")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxBody = 1024 })
	token, _ := e.session()
	big := `{"items":[{"productId":"p1","qty":1}],"pad":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name string
		rq   req
	}{
		{"proxied", req{method: "POST", path: "/api/v1/orders", body: big}},
		{"proxied, chunked", req{method: "POST", path: "/api/v1/orders", body: chunked(big)}},
		{"tutorial", req{method: "POST", path: "/orders/createOrder", body: big}},
		{"tutorial, chunked", req{method: "POST", path: "/orders/createOrder", body: chunked(big)}},
	}
	for _, tt := range tests {
		tt.rq.token = token
		resp, body := e.do(tt.rq)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "body_too_large") {
			t.Errorf("%s: %s %s, want 413 body_too_large", tt.name, resp.Status, body)
		}
	}
	if n := len(e.fakes.madeOrders()); n != 0 {
		t.Errorf("%d orders made from oversized requests", n)
	}
}

// chunked returns a body whose length the client does not announce.
func chunked(s string) io.Reader { return struct{ io.Reader }{strings.NewReader(s)} }
