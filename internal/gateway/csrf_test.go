package gateway

import (
	"net/http"
	"net/url"
	"testing"

	"streamcart/internal/platform/testenv"
)

// A write authenticated by the session cookie must come from the shop's
// own origin or an allowed one: SameSite=Lax lets the browser send the
// cookie from another port of the same host and from a sibling
// subdomain, which are the same site but not the same origin.
func TestCookieWritesFromOtherOriginsAreRefused(t *testing.T) {
	t.Parallel()
	const allowed = "https://shop.example.com"
	e := newEnv(t, func(c *Config) { c.AllowedOrigins = []string{allowed} })
	token, _ := e.session()
	cookie := SessionCookie + "=" + token
	self := e.srv.URL
	u, _ := url.Parse(self)
	otherPort := "http://" + u.Hostname() + ":1"

	order := map[string]any{"items": []map[string]any{{"productId": "p1", "qty": 1}}}
	tutorialOrder := `{"products":[{"productId":"p1","qty":1,"productPrice":39.99}]}`
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		header http.Header
		want   int // 0: a success (2xx)
	}{
		{"order, evil origin", "POST", "/api/v1/orders", order, http.Header{"Cookie": {cookie}, "Origin": {"http://evil.example"}}, 403},
		{"checkout, evil origin", "POST", "/api/v1/cart/checkout", nil, http.Header{"Cookie": {cookie}, "Origin": {"http://evil.example"}}, 403},
		{"tutorial order as text/plain, evil origin", "POST", "/orders/createOrder", tutorialOrder, http.Header{"Cookie": {cookie}, "Origin": {"http://evil.example"}, "Content-Type": {"text/plain"}}, 403},
		{"order, another port of the same host", "POST", "/api/v1/orders", order, http.Header{"Cookie": {cookie}, "Origin": {otherPort}}, 403},
		{"order, sibling subdomain (no Origin)", "POST", "/api/v1/orders", order, http.Header{"Cookie": {cookie}, "Sec-Fetch-Site": {"same-site"}}, 403},
		{"order, cross-site (no Origin)", "POST", "/api/v1/orders", order, http.Header{"Cookie": {cookie}, "Sec-Fetch-Site": {"cross-site"}}, 403},
		{"order, opaque origin", "POST", "/api/v1/orders", order, http.Header{"Cookie": {cookie}, "Origin": {"null"}}, 403},
		{"cart line, evil origin", "PUT", "/api/v1/cart/items/p1", map[string]int{"qty": 1}, http.Header{"Cookie": {cookie}, "Origin": {"http://evil.example"}}, 403},
		{"logout, evil origin", "DELETE", "/api/v1/session", nil, http.Header{"Cookie": {cookie}, "Origin": {"http://evil.example"}}, 403},

		{"order, same origin", "POST", "/api/v1/orders", order, http.Header{"Cookie": {cookie}, "Origin": {self}}, 0},
		{"order, allowed origin", "POST", "/api/v1/orders", order, http.Header{"Cookie": {cookie}, "Origin": {allowed}}, 0},
		{"order, Sec-Fetch-Site same-origin", "POST", "/api/v1/orders", order, http.Header{"Cookie": {cookie}, "Sec-Fetch-Site": {"same-origin"}}, 0},
		{"order, not from a browser", "POST", "/api/v1/orders", order, http.Header{"Cookie": {cookie}}, 0},
		{"order, bearer token from anywhere", "POST", "/api/v1/orders", order, http.Header{"Authorization": {"Bearer " + token}, "Origin": {"http://evil.example"}}, 0},
		{"read, evil origin", "GET", "/api/v1/cart", nil, http.Header{"Cookie": {cookie}, "Origin": {"http://evil.example"}}, 0},
	}
	for _, tt := range tests {
		before := len(e.fakes.madeOrders())
		resp, body := e.do(req{method: tt.method, path: tt.path, body: tt.body, header: tt.header})
		if tt.want == 0 {
			if resp.StatusCode/100 != 2 {
				t.Errorf("%s: %s %s, want it served", tt.name, resp.Status, body)
			}
			continue
		}
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %s %s, want %d", tt.name, resp.Status, body, tt.want)
		}
		if n := len(e.fakes.madeOrders()); n != before {
			t.Errorf("%s: %d orders made, want none", tt.name, n-before)
		}
	}
	// The session survived the refused logout.
	if resp, body := e.do(req{method: "GET", path: "/api/v1/session", token: token}); resp.StatusCode != http.StatusOK {
		t.Errorf("session after a refused cross-origin logout: %s %s", resp.Status, body)
	}
}

// The refusal says why, in the route's own error shape.
func TestCrossOriginRefusalNamesTheOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	resp, body := e.do(req{method: "POST", path: "/api/v1/cart/checkout", header: http.Header{"Cookie": {SessionCookie + "=" + token}, "Origin": {"http://evil.example"}}})
	if got := errorOf(t, body); resp.StatusCode != http.StatusForbidden || got.Code != "cross_origin" {
		t.Errorf("%s %s, want 403 cross_origin", resp.Status, body)
	}
	resp, body = e.do(req{method: "POST", path: "/orders/createOrder", body: `{}`, header: http.Header{"Cookie": {SessionCookie + "=" + token}, "Origin": {"http://evil.example"}}})
	var env tutorialEnvelope
	testenv.DecodeJSON(t, body, &env)
	if resp.StatusCode != http.StatusForbidden || env.Error == nil || env.Error.Code != "cross_origin" {
		t.Errorf("tutorial: %s %s, want 403 with cross_origin in the envelope", resp.Status, body)
	}
}
