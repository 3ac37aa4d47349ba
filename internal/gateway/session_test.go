package gateway

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/events"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

func sessionCookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	return nil
}

func TestNewSession(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		t.Run("secure="+map[bool]string{false: "false", true: "true"}[secure], func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.SecureCookies = secure; c.SessionTTL = time.Hour })
			resp, body := e.do(req{method: "GET", path: "/api/v1/session", header: http.Header{"User-Agent": {"test-browser/1.0"}}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /api/v1/session: %s %s", resp.Status, body)
			}
			var got struct{ UserID, Auth string }
			testenv.DecodeJSON(t, body, &got)

			c := sessionCookieOf(resp)
			if c == nil {
				t.Fatalf("no %s cookie in %q", SessionCookie, resp.Header.Values("Set-Cookie"))
			}
			raw, err := base64.RawURLEncoding.DecodeString(c.Value)
			if err != nil || len(raw)*8 < 128 {
				t.Errorf("token %q decodes to %d bits (err %v), want at least 128", c.Value, len(raw)*8, err)
			}
			if got.Auth != c.Value {
				t.Errorf("body auth %q, cookie %q: want the same token", got.Auth, c.Value)
			}
			wantCookie := http.Cookie{Name: SessionCookie, Value: c.Value, Path: "/", MaxAge: 3600, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
			gotCookie := http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path, MaxAge: c.MaxAge, HttpOnly: c.HttpOnly, Secure: c.Secure, SameSite: c.SameSite}
			if diff := cmp.Diff(wantCookie, gotCookie); diff != "" {
				t.Errorf("cookie (-want +got):\n%s", diff)
			}

			// Redis has the session under the token's hash, never the token.
			ctx := t.Context()
			keys, err := e.rdb.Keys(ctx, e.cfg.KeyPrefix+"session:*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{e.gw.sessionKey(tokenHash(c.Value))}; !cmp.Equal(keys, want) {
				t.Errorf("session keys %q, want %q", keys, want)
			}
			if strings.Contains(strings.Join(keys, " "), c.Value) {
				t.Errorf("a session key contains the token")
			}
			fields, err := e.rdb.HGetAll(ctx, keys[0]).Result()
			if err != nil {
				t.Fatal(err)
			}
			if fields["userId"] != got.UserID || fields["sessionId"] == "" || fields["userAgent"] != "test-browser/1.0" || fields["ip"] != "127.0.0.1" || fields["createdAt"] == "" {
				t.Errorf("session hash %v: want userId %s, a sessionId and createdAt, the agent and 127.0.0.1", fields, got.UserID)
			}
			if ttl := e.rdb.TTL(ctx, keys[0]).Val(); ttl < 59*time.Minute || ttl > time.Hour {
				t.Errorf("session TTL %v, want about 1h", ttl)
			}

			// The login is on the transaction stream.
			entries, err := e.rdb.XRange(ctx, e.cfg.TransactionStream, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("%d entries on the transaction stream, want 1", len(entries))
			}
			f := entries[0].Values
			want := map[string]any{
				stream.FieldEventType: events.TypeLoginIdentityRecorded, "action": events.ActionInsertLoginIdentity,
				"userId": got.UserID, "sessionId": fields["sessionId"], "browserAgent": "test-browser/1.0", "ipAddress": "127.0.0.1",
			}
			for k, v := range want {
				if f[k] != v {
					t.Errorf("stream field %s = %v, want %v", k, f[k], v)
				}
			}
		})
	}
}

func TestSessionTTLSlides(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.SessionTTL = time.Hour })
	token, _ := e.session()
	key := e.gw.sessionKey(tokenHash(token))
	ctx := t.Context()
	if err := e.rdb.Expire(ctx, key, 5*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(req{method: "GET", path: "/api/v1/session", token: token})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, body)
	}
	if ttl := e.rdb.TTL(ctx, key).Val(); ttl < 59*time.Minute {
		t.Errorf("TTL after use %v, want it back to about 1h", ttl)
	}
}

func TestSessionToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, userID := e.session()
	expired, _ := e.session()
	if err := e.rdb.Del(t.Context(), e.gw.sessionKey(tokenHash(expired))).Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		header     http.Header
		wantSameAs string // the user id expected, "" for a new one
		wantCookie bool
	}{
		{"bearer", http.Header{"Authorization": {"Bearer " + token}}, userID, false},
		{"bearer lowercase scheme", http.Header{"Authorization": {"bearer " + token}}, userID, false},
		{"cookie", http.Header{"Cookie": {SessionCookie + "=" + token}}, userID, true},
		{"no token", nil, "", true},
		{"basic auth", http.Header{"Authorization": {"Basic " + token}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(req{method: "GET", path: "/api/v1/session", header: tt.header})
			var got struct{ UserID, Auth string }
			testenv.DecodeJSON(t, body, &got)
			if tt.wantSameAs != "" && got.UserID != tt.wantSameAs {
				t.Errorf("user %s, want the session's %s", got.UserID, tt.wantSameAs)
			}
			if tt.wantSameAs == "" && (got.UserID == userID || got.UserID == "") {
				t.Errorf("user %q, want a new user", got.UserID)
			}
			if c := sessionCookieOf(resp); (c != nil) != tt.wantCookie {
				t.Errorf("cookie %v, want one: %v", c, tt.wantCookie)
			}
			if tt.wantSameAs == "" {
				if got.Auth == token || strings.Contains(tt.header.Get("Authorization")+tt.header.Get("Cookie"), got.Auth) {
					t.Errorf("new session adopted the client's token %q", got.Auth)
				}
				if !validToken(got.Auth) {
					t.Errorf("new token %q is not a token", got.Auth)
				}
			} else if got.Auth != token {
				t.Errorf("auth %q, want the client's token", got.Auth)
			}
		})
	}
}

// An unknown or expired token on an /api/v1 route that needs a session
// is refused with 401 session_expired, never silently replaced by a new
// session (and an empty cart); a cookie that holds it is cleared. The
// tutorial routes, whose client knows nothing of session_expired, give it
// a new session.
func TestUnknownTokenIsSessionExpired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	expired, _ := e.session()
	if err := e.rdb.Del(t.Context(), e.gw.sessionKey(tokenHash(expired))).Err(); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"unknown": newToken(), "expired": expired, "malformed": "abc"}
	routes := []struct{ method, path string }{
		{"GET", "/api/v1/session"}, {"DELETE", "/api/v1/session"}, {"GET", "/api/v1/cart"}, {"POST", "/api/v1/cart/checkout"},
		{"POST", "/api/v1/orders"}, {"GET", "/api/v1/orders"}, {"GET", "/api/v1/orders/o1"}, {"GET", "/api/v1/orders/events"},
	}
	sessions := func() int { return len(e.rdb.Keys(t.Context(), e.cfg.KeyPrefix+"session:*").Val()) }
	before := sessions()
	for name, tok := range tokens {
		for _, rt := range routes {
			for _, how := range []string{"bearer", "cookie"} {
				h := http.Header{"Authorization": {"Bearer " + tok}}
				if how == "cookie" {
					h = http.Header{"Cookie": {SessionCookie + "=" + tok}}
				}
				resp, body := e.do(req{method: rt.method, path: rt.path, header: h, body: `{}`})
				if got := errorOf(t, body); resp.StatusCode != http.StatusUnauthorized || got.Code != "session_expired" {
					t.Errorf("%s %s with a %s %s token: %s %s, want 401 session_expired", rt.method, rt.path, name, how, resp.Status, body)
				}
				c := sessionCookieOf(resp)
				if how == "cookie" && (c == nil || c.MaxAge >= 0 || c.Value != "") {
					t.Errorf("%s %s with a %s cookie: Set-Cookie %q, want the cookie cleared", rt.method, rt.path, name, resp.Header.Values("Set-Cookie"))
				}
				if how == "bearer" && c != nil {
					t.Errorf("%s %s with a %s bearer token: Set-Cookie %q, want none", rt.method, rt.path, name, resp.Header.Values("Set-Cookie"))
				}
			}
		}
	}
	if n := sessions(); n != before {
		t.Errorf("%d sessions made for unknown tokens, want none", n-before)
	}

	resp, body := e.do(req{method: "POST", path: "/products/getProductsByFilter", token: expired, body: `{}`})
	var env tutorialEnvelope
	testenv.DecodeJSON(t, body, &env)
	if resp.StatusCode != http.StatusOK || !validToken(env.Auth) || env.Auth == expired {
		t.Errorf("tutorial search with an expired token: %s %s, want 200 with a new token", resp.Status, body)
	}
}

// Reading the catalog, or a path that does not exist, starts no session:
// no cookie, no Redis session, no login event on the transaction stream
// (and so no login identity row in the identity service's database). A
// stale cookie does not stop a read.
func TestReadingLeavesNoTrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	paths := []string{
		"/api/v1/products?q=puma", "/api/v1/products/p1", "/api/v1/products/nope", "/api/v1/categories",
		"/api/v1/products/p1/image.svg", "/products/p1/image.svg", "/api/v1/nothing-here",
	}
	for _, p := range paths {
		for _, h := range []http.Header{nil, {"Cookie": {SessionCookie + "=" + newToken()}}, {"Authorization": {"Bearer " + newToken()}}} {
			resp, body := e.do(req{method: "GET", path: p, header: h})
			if resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized {
				t.Errorf("GET %s (%v): %s %s", p, h, resp.Status, body)
			}
			if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
				t.Errorf("GET %s (%v): Set-Cookie %q, want none", p, h, c)
			}
		}
	}
	ctx := t.Context()
	if keys := e.rdb.Keys(ctx, e.cfg.KeyPrefix+"session:*").Val(); len(keys) != 0 {
		t.Errorf("sessions after reading: %q, want none", keys)
	}
	if n := e.rdb.XLen(ctx, e.cfg.TransactionStream).Val(); n != 0 {
		t.Errorf("%d entries on the transaction stream after reading, want none", n)
	}
	// A read with a valid session is the shopper's: the identity is
	// signed on to the service.
	token, userID := e.session()
	if resp, body := e.do(req{method: "GET", path: "/api/v1/products?q=puma", token: token}); resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, body)
	}
	if got := e.fakes.products.last(t, "/products").Identity.UserID; got != userID {
		t.Errorf("search with a session carried user %q, want %q", got, userID)
	}
}

// A shopper logs out with DELETE /api/v1/session: the token opens nothing
// any more, and the browser's cookie is cleared.
func TestLogoutRevokesTheToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, how := range []string{"bearer", "cookie"} {
		token, _ := e.session()
		h := http.Header{"Authorization": {"Bearer " + token}}
		if how == "cookie" {
			h = http.Header{"Cookie": {SessionCookie + "=" + token}}
		}
		resp, body := e.do(req{method: "DELETE", path: "/api/v1/session", header: h})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s logout: %s %s, want 204", how, resp.Status, body)
		}
		if c := resp.Header.Values("Set-Cookie"); len(c) != 1 || !strings.Contains(c[0], "Max-Age=0") {
			t.Errorf("%s logout: Set-Cookie %q, want the cookie cleared", how, c)
		}
		if n := e.rdb.Exists(t.Context(), e.gw.sessionKey(tokenHash(token))).Val(); n != 0 {
			t.Errorf("%s logout: the session is still in Redis", how)
		}
		resp, body = e.do(req{method: "GET", path: "/api/v1/cart", header: h})
		if got := errorOf(t, body); resp.StatusCode != http.StatusUnauthorized || got.Code != "session_expired" {
			t.Errorf("%s: the cart after logout: %s %s, want 401 session_expired", how, resp.Status, body)
		}
	}
}

// One client address may start NewSessionsPerMinute sessions a minute;
// its sessions go on working, and other addresses are not limited.
func TestNewSessionsAreLimitedPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.NewSessionsPerMinute = 3; c.TrustProxy = true })
	from := func(ip string) req {
		return req{method: "GET", path: "/api/v1/session", header: http.Header{"X-Forwarded-For": {ip}}}
	}
	first, _ := e.do(from("192.0.2.1"))
	var token string
	if c := sessionCookieOf(first); c != nil {
		token = c.Value
	}
	// However the requests straddle a minute boundary, one window holds
	// more than 3 of 7.
	resp, body := firstLimited(t, e.srv, from("192.0.2.1"), 3)
	if got := errorOf(t, body); got.Code != "rate_limited" || !strings.Contains(got.Message, "new sessions") {
		t.Errorf("error %+v, want rate_limited naming new sessions", got)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q, want 1 to 60 seconds", resp.Header.Get("Retry-After"))
	}
	rq := from("192.0.2.1")
	rq.token = token
	if resp, body := e.do(rq); resp.StatusCode != http.StatusOK {
		t.Errorf("an existing session of the limited address: %s %s", resp.Status, body)
	}
	if resp, body := e.do(from("192.0.2.2")); resp.StatusCode != http.StatusOK {
		t.Errorf("a new session from another address: %s %s", resp.Status, body)
	}
}

// The client address is decided once (web.DecideClientIP, tested there);
// the gateway believes X-Forwarded-For only with TrustProxy, for the
// identity it signs as for its limits.
func TestTrustProxyDecidesTheShoppersAddress(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		trust bool
		want  string
	}{
		{false, "127.0.0.1"},
		{true, "203.0.113.9"},
	} {
		e := newEnv(t, func(c *Config) { c.TrustProxy = tt.trust })
		token, _ := e.session()
		resp, body := e.do(req{method: "GET", path: "/api/v1/products?q=puma", token: token, header: http.Header{"X-Forwarded-For": {"198.51.100.7, 203.0.113.9"}}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s", resp.Status, body)
		}
		if got := e.fakes.products.last(t, "/products").Identity.IP; got != tt.want {
			t.Errorf("TrustProxy %v: identity IP %s, want %s", tt.trust, got, tt.want)
		}
	}
}

func TestIdentityHeaderStripped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, userID := e.session()
	forged := e.signer.Sign(auth.Identity{Role: auth.RoleOperator, UserID: "mallory", SessionID: "s"})
	resp, body := e.do(req{method: "GET", path: "/api/v1/products?q=puma", token: token, header: http.Header{
		auth.Header:             {forged},
		"X-Streamcart-Whatever": {"x"},
		"Cookie":                {"other=1"},
		"User-Agent":            {"agent/2"},
	}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, body)
	}
	got := e.fakes.products.last(t, "/products")
	if got.IdentityErr != nil {
		t.Fatalf("the products service could not verify the identity: %v", got.IdentityErr)
	}
	if n := len(got.Header.Values(auth.Header)); n != 1 {
		t.Errorf("products service got %d identity headers, want 1", n)
	}
	want := auth.Identity{Role: auth.RoleShopper, UserID: userID, IP: "127.0.0.1", UserAgent: "agent/2"}
	got.Identity.SessionID, got.Identity.Expires = "", 0
	if diff := cmp.Diff(want, got.Identity); diff != "" {
		t.Errorf("identity at the service (-want +got):\n%s", diff)
	}
	for _, h := range []string{"X-Streamcart-Whatever", "Authorization", "Cookie"} {
		if v := got.Header.Values(h); len(v) > 0 {
			t.Errorf("service got %s: %q, want it dropped", h, v)
		}
	}
	if rid := resp.Header.Get("X-Request-Id"); rid == "" || got.Header.Get("X-Request-Id") != rid {
		t.Errorf("request id: response %q, service %q; want the same", rid, got.Header.Get("X-Request-Id"))
	}
}
