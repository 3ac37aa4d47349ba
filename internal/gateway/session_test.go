package gateway

import (
	"encoding/base64"
	"net/http"
	"net/url"
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

// gatewayKeys returns the gateway's Redis keys but its rate counters.
func (e *env) gatewayKeys() []string {
	e.t.Helper()
	keys, err := e.rdb.Keys(e.t.Context(), e.cfg.KeyPrefix+"*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	var kept []string
	for _, k := range keys {
		if !strings.HasPrefix(k, e.cfg.KeyPrefix+"rl:") {
			kept = append(kept, k)
		}
	}
	return kept
}

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
			claims, err := e.gw.tokens.verify(c.Value, time.Now())
			if err != nil || claims.UserID != got.UserID || claims.SessionID == "" {
				t.Errorf("token %q: %+v, %v; want a valid token of user %s with a session id", c.Value, claims, err, got.UserID)
			}
			if exp := time.Unix(claims.Expires, 0); time.Until(exp) < 59*time.Minute || time.Until(exp) > time.Hour {
				t.Errorf("token expires at %v, want in about 1h", exp)
			}
			if got.Auth != c.Value {
				t.Errorf("body auth %q, cookie %q: want the same token", got.Auth, c.Value)
			}
			wantCookie := http.Cookie{Name: SessionCookie, Value: c.Value, Path: "/", MaxAge: 3600, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
			gotCookie := http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path, MaxAge: c.MaxAge, HttpOnly: c.HttpOnly, Secure: c.Secure, SameSite: c.SameSite}
			if diff := cmp.Diff(wantCookie, gotCookie); diff != "" {
				t.Errorf("cookie (-want +got):\n%s", diff)
			}

			// Redis holds no session: the token is the session.
			ctx := t.Context()
			if keys := e.gatewayKeys(); len(keys) != 0 {
				t.Errorf("gateway keys %q after a new session, want none but rate counters", keys)
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
				"userId": got.UserID, "sessionId": claims.SessionID, "browserAgent": "test-browser/1.0", "ipAddress": "127.0.0.1",
			}
			for k, v := range want {
				if f[k] != v {
					t.Errorf("stream field %s = %v, want %v", k, f[k], v)
				}
			}
		})
	}
}

// A token older than renewAfter is replaced by a fresh one of the same
// session, in the cookie it came in or in the Session-Token header; a
// fresh token is kept. So a session lives SessionTTL after its last use.
func TestTokenIsRenewedWithUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.SessionTTL = time.Hour })
	fresh, userID := e.session()
	c, err := e.gw.tokens.verify(fresh, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	old, _ := e.gw.tokens.issue(userID, c.SessionID, time.Now().Add(-50*time.Minute), time.Hour)
	for _, tt := range []struct {
		name, token string
		cookie      bool
		renewed     bool
	}{
		{"fresh bearer", fresh, false, false},
		{"fresh cookie", fresh, true, false},
		{"old bearer", old, false, true},
		{"old cookie", old, true, true},
	} {
		h := http.Header{"Authorization": {"Bearer " + tt.token}}
		if tt.cookie {
			h = http.Header{"Cookie": {SessionCookie + "=" + tt.token}}
		}
		resp, body := e.do(req{method: "GET", path: "/api/v1/session", header: h})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %s", tt.name, resp.Status, body)
		}
		var got struct{ UserID, Auth string }
		testenv.DecodeJSON(t, body, &got)
		var given string // the token the answer hands out, if any
		if ck := sessionCookieOf(resp); ck != nil {
			given = ck.Value
			if ck.MaxAge < 3590 || ck.MaxAge > 3600 {
				t.Errorf("%s: cookie Max-Age %d, want about an hour", tt.name, ck.MaxAge)
			}
		}
		if h := resp.Header.Get(SessionTokenHeader); h != "" {
			if given != "" || tt.cookie {
				t.Errorf("%s: Session-Token %q beside cookie %q, want the token only where it came from", tt.name, h, given)
			}
			given = h
		}
		if !tt.renewed {
			if given != "" || got.Auth != tt.token {
				t.Errorf("%s: handed out %q, auth %q; want no new token and auth the client's", tt.name, given, got.Auth)
			}
			continue
		}
		nc, err := e.gw.tokens.verify(given, time.Now())
		if err != nil || given != got.Auth || nc.UserID != userID || nc.SessionID != c.SessionID || time.Until(time.Unix(nc.Expires, 0)) < 59*time.Minute {
			t.Errorf("%s: handed out %q (auth %q): %+v, %v; want a token of the same session expiring in an hour", tt.name, given, got.Auth, nc, err)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q with a new token, want no-store", tt.name, resp.Header.Get("Cache-Control"))
		}
	}

	// The tutorial's client takes the token of every answer's auth.
	resp, body := e.do(req{method: "POST", path: "/products/getProductsByFilter", token: old, body: `{}`})
	var env tutorialEnvelope
	testenv.DecodeJSON(t, body, &env)
	nc, err := e.gw.tokens.verify(env.Auth, time.Now())
	if resp.StatusCode != http.StatusOK || err != nil || env.Auth == old || nc.SessionID != c.SessionID {
		t.Errorf("tutorial search with an old token: %s %s, want a fresh token of the session in auth", resp.Status, body)
	}
}

func TestSessionToken(t *testing.T) {
	t.Parallel()
	e, token, userID := newShopper(t)
	tests := []struct {
		name       string
		header     http.Header
		wantSameAs string // the user id expected, "" for a new one
		wantCookie bool
	}{
		{"bearer", http.Header{"Authorization": {"Bearer " + token}}, userID, false},
		{"bearer lowercase scheme", http.Header{"Authorization": {"bearer " + token}}, userID, false},
		{"cookie", http.Header{"Cookie": {SessionCookie + "=" + token}}, userID, false}, // fresh: not renewed
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
				if _, err := e.gw.tokens.verify(got.Auth, time.Now()); err != nil {
					t.Errorf("new token %q is not a token: %v", got.Auth, err)
				}
			} else if got.Auth != token {
				t.Errorf("auth %q, want the client's token", got.Auth)
			}
		})
	}
}

// badTokens returns tokens that open no session: expired, forged (a
// payload changed under its signature, or signed with another secret),
// garbled, or of the legacy form but unknown to Redis.
func badTokens(t *testing.T, e *env) map[string]string {
	t.Helper()
	token, userID := e.session()
	c, err := e.gw.tokens.verify(token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := e.gw.tokens.issue(userID, c.SessionID, time.Now().Add(-e.gw.cfg.SessionTTL-time.Minute), e.gw.cfg.SessionTTL)
	_, sig, _ := strings.Cut(token, ".")
	other, _ := e.gw.tokens.issue("someone-else", c.SessionID, time.Now(), time.Hour)
	payload, _, _ := strings.Cut(other, ".")
	stranger, _ := newTokenSigner(testSigner(t)).issue(userID, c.SessionID, time.Now(), time.Hour)
	legacy := base64.RawURLEncoding.EncodeToString(make([]byte, legacyTokenBytes))
	return map[string]string{
		"expired": expired, "forged": payload + "." + sig, "other secret": stranger,
		"malformed": "abc", "unknown legacy": legacy,
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
	tokens := badTokens(t, e)
	expired := tokens["expired"]
	routes := []struct{ method, path string }{
		{"GET", "/api/v1/session"}, {"DELETE", "/api/v1/session"}, {"GET", "/api/v1/cart"}, {"POST", "/api/v1/cart/checkout"},
		{"POST", "/api/v1/orders"}, {"GET", "/api/v1/orders"}, {"GET", "/api/v1/orders/o1"}, {"GET", "/api/v1/orders/events"},
	}
	sessions := func() int { return int(e.rdb.XLen(t.Context(), e.cfg.TransactionStream).Val()) } // their login events
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
	if _, err := e.gw.tokens.verify(env.Auth, time.Now()); resp.StatusCode != http.StatusOK || err != nil || env.Auth == expired {
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
	bad := badTokens(t, e)
	logins := e.rdb.XLen(t.Context(), e.cfg.TransactionStream).Val() // badTokens' own session
	paths := []string{
		"/api/v1/products?q=puma", "/api/v1/products/p1", "/api/v1/products/nope", "/api/v1/categories",
		"/api/v1/products/p1/image.svg", "/products/p1/image.svg", "/api/v1/nothing-here",
	}
	for _, p := range paths {
		for _, h := range []http.Header{nil, {"Cookie": {SessionCookie + "=" + bad["forged"]}}, {"Authorization": {"Bearer " + bad["expired"]}}, {"Cookie": {SessionCookie + "=" + bad["unknown legacy"]}}} {
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
	if keys := e.gatewayKeys(); len(keys) != 0 {
		t.Errorf("gateway keys after reading: %q, want none but rate counters", keys)
	}
	if n := e.rdb.XLen(ctx, e.cfg.TransactionStream).Val(); n != logins {
		t.Errorf("%d entries on the transaction stream after reading, want none", n-logins)
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

// A shopper logs out with DELETE /api/v1/session: no token of the
// session opens anything any more, an older one included, and the
// browser's cookie is cleared. Redis keeps the revocation as long as a
// token of the session could be valid.
func TestLogoutRevokesTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, how := range []string{"bearer", "cookie"} {
		token, userID := e.session()
		c, err := e.gw.tokens.verify(token, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		older, _ := e.gw.tokens.issue(userID, c.SessionID, time.Now().Add(-time.Hour), e.gw.cfg.SessionTTL)
		header := func(tok string) http.Header {
			if how == "cookie" {
				return http.Header{"Cookie": {SessionCookie + "=" + tok}}
			}
			return http.Header{"Authorization": {"Bearer " + tok}}
		}
		resp, body := e.do(req{method: "DELETE", path: "/api/v1/session", header: header(token)})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s logout: %s %s, want 204", how, resp.Status, body)
		}
		if c := resp.Header.Values("Set-Cookie"); len(c) != 1 || !strings.Contains(c[0], "Max-Age=0") {
			t.Errorf("%s logout: Set-Cookie %q, want the cookie cleared", how, c)
		}
		ttl := e.rdb.TTL(t.Context(), e.gw.revokedKey(c.SessionID)).Val()
		if ttl < DefaultSessionTTL || ttl > DefaultSessionTTL+2*time.Minute {
			t.Errorf("%s logout: the revocation lives %v, want SessionTTL and a minute", how, ttl)
		}
		for name, tok := range map[string]string{"the token": token, "an older token": older} {
			resp, body = e.do(req{method: "GET", path: "/api/v1/cart", header: header(tok)})
			if got := errorOf(t, body); resp.StatusCode != http.StatusUnauthorized || got.Code != "session_expired" {
				t.Errorf("%s: the cart with %s after logout: %s %s, want 401 session_expired", how, name, resp.Status, body)
			}
		}
	}
}

// Redis holds nothing a session needs: when Redis loses the gateway's
// keys, a token still opens its session, as the same user.
func TestATokenNeedsNothingInRedis(t *testing.T) {
	t.Parallel()
	e, token, userID := newShopper(t)
	if resp, body := e.do(req{method: "GET", path: "/api/v1/cart", token: token}); resp.StatusCode != http.StatusOK {
		t.Fatalf("cart: %s %s", resp.Status, body)
	}
	keys, err := e.rdb.Keys(t.Context(), e.cfg.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		if err := e.rdb.Del(t.Context(), keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := e.do(req{method: "GET", path: "/api/v1/session", token: token})
	var got struct{ UserID, Auth string }
	testenv.DecodeJSON(t, body, &got)
	if resp.StatusCode != http.StatusOK || got.UserID != userID {
		t.Errorf("session after Redis lost the gateway's keys: %s %s, want 200 for %s", resp.Status, body, userID)
	}
}

// A token of a gateway before signed tokens opens its session while Redis
// keeps it, and is exchanged for a signed token of the same session;
// logging out deletes it.
func TestLegacyTokenIsExchangedForASignedOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	legacy := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	key := e.gw.legacySessionKey(tokenHash(legacy))
	if err := e.rdb.HSet(t.Context(), key, "userId", "u-legacy", "sessionId", "s-legacy").Err(); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(req{method: "GET", path: "/api/v1/session", token: legacy})
	var got struct{ UserID, Auth string }
	testenv.DecodeJSON(t, body, &got)
	c, err := e.gw.tokens.verify(got.Auth, time.Now())
	if resp.StatusCode != http.StatusOK || got.UserID != "u-legacy" || err != nil || c.SessionID != "s-legacy" || resp.Header.Get(SessionTokenHeader) != got.Auth {
		t.Fatalf("legacy token: %s %s (Session-Token %q), want its user with a signed token of its session", resp.Status, body, resp.Header.Get(SessionTokenHeader))
	}
	if resp, body := e.do(req{method: "DELETE", path: "/api/v1/session", token: legacy}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %s %s", resp.Status, body)
	}
	if n := e.rdb.Exists(t.Context(), key).Val(); n != 0 {
		t.Error("the legacy session is still in Redis after logout")
	}
	for name, tok := range map[string]string{"legacy": legacy, "signed": got.Auth} {
		if resp, body := e.do(req{method: "GET", path: "/api/v1/cart", token: tok}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the %s token after logout: %s %s, want 401", name, resp.Status, body)
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
	e, token, userID := newShopper(t)
	forged := e.signer.Sign(auth.Identity{Role: auth.RoleOperator, UserID: "mallory", SessionID: "s"})
	resp, body := e.do(req{method: "GET", path: "/api/v1/products?q=puma", token: token, header: http.Header{
		auth.Header:             {forged},
		"X-Streamcart-Whatever": {"x"},
		"Cookie":                {"other=1"},
		"User-Agent":            {"agent/2"},
		"Traceparent":           {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"Tracestate":            {"x=1"},
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
	for _, h := range []string{"X-Streamcart-Whatever", "Authorization", "Cookie", "Traceparent", "Tracestate"} {
		if v := got.Header.Values(h); len(v) > 0 {
			t.Errorf("service got %s: %q, want it dropped", h, v)
		}
	}
	if rid := resp.Header.Get("X-Request-Id"); rid == "" || got.Header.Get("X-Request-Id") != rid {
		t.Errorf("request id: response %q, service %q; want the same", rid, got.Header.Get("X-Request-Id"))
	}
}

// revocationsKnown reports whether g trusts its copy of the revocations.
func revocationsKnown(g *Gateway) bool {
	_, known := g.revocations.check("", time.Now())
	return known
}

// A logout on one gateway closes the session on another: the other
// learns of it from the revocations' channel, or, while its subscription
// is down, from Redis, and finds it in the set it loads when it
// subscribes again.
func TestLogoutOnOneGatewayIsRefusedOnAnother(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	u, err := url.Parse(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartProxy(t, u.Host)
	u.Host = proxy.Addr()
	b, srvB := startGateway(t, testenv.RedisAt(t, u.String()), e.signer, e.cfg)
	for _, g := range []*Gateway{e.gw, b} {
		testenv.WaitFor(t, 10*time.Second, "the revocations' subscription", func() bool { return revocationsKnown(g) })
	}
	onB := func(token string) int {
		resp, _ := do(t, srvB, req{method: "GET", path: "/api/v1/session", token: token})
		return resp.StatusCode
	}
	// logout logs a session out on the first gateway after a request of
	// it on B, and returns its token.
	logout := func() string {
		t.Helper()
		token, _ := e.session()
		if code := onB(token); code != http.StatusOK {
			t.Fatalf("the session on B: %d, want 200", code)
		}
		if resp, body := e.do(req{method: "DELETE", path: "/api/v1/session", token: token}); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %s %s", resp.Status, body)
		}
		return token
	}
	refusedOnB := func(token, what string) {
		t.Helper()
		testenv.WaitFor(t, 10*time.Second, what, func() bool { return onB(token) == http.StatusUnauthorized })
	}
	refusedOnB(logout(), "B to refuse a session logged out on A")

	// B's subscription breaks and cannot come back for now; its other
	// connections to Redis stay.
	proxy.Refuse(true)
	<-proxy.BreakBefore(revocationPingPayload)
	testenv.WaitFor(t, 10*time.Second, "B to stop trusting its copy", func() bool { return !revocationsKnown(b) })
	missed := logout()
	refusedOnB(missed, "B to refuse a session logged out while its subscription is down")
	proxy.Refuse(false)
	testenv.WaitFor(t, 30*time.Second, "B to subscribe again", func() bool { return revocationsKnown(b) })
	if code := onB(missed); code != http.StatusUnauthorized {
		t.Errorf("a session logged out while B's subscription was down: %d on B after it came back, want 401", code)
	}
	refusedOnB(logout(), "B to refuse a session logged out after its subscription came back")
}
