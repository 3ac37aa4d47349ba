package ops_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/ops"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
	"streamcart/internal/storefront"
	"streamcart/internal/stream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const token = "s3cret-operator-token"

// newOps returns /ops drawn by a real storefront (whose API it never
// calls), on a mux of its own behind web.WithClientIP, as the gateway
// serves it.
func newOps(t *testing.T, rdb redis.UniversalClient, cfg ops.Config, trustProxy bool) http.Handler {
	t.Helper()
	log := testenv.Logger(t)
	shop, err := storefront.New(storefront.Config{APIURL: "http://127.0.0.1:1"}, log)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ops.New(rdb, shop, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	o.Register(mux.Handle)
	return web.WithClientIP(trustProxy, mux)
}

// signIn signs in with the form and returns the login cookie.
func signIn(t *testing.T, h http.Handler) string {
	t.Helper()
	code, _, header := testenv.PostForm(t, h, "/ops/login", url.Values{"token": {token}})
	cookie := header.Get("Set-Cookie")
	if code != http.StatusSeeOther || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || strings.Contains(cookie, token) {
		t.Fatalf("login: %d, Set-Cookie %q", code, cookie)
	}
	return strings.SplitN(cookie, ";", 2)[0]
}

var formTokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// opsConfig is cfg with a key prefix of the test's own.
func opsConfig(t *testing.T, cfg ops.Config) ops.Config {
	cfg.KeyPrefix = testenv.Name(t, "ops") + ":"
	return cfg
}

func TestOnlyOperatorsSeeTheOperationsPage(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	h := newOps(t, rdb, opsConfig(t, ops.Config{OperatorToken: token}), false)
	closed := newOps(t, rdb, opsConfig(t, ops.Config{}), false)

	tests := []struct {
		name    string
		h       http.Handler
		target  string
		headers []string
		want    int
	}{
		{"no token", h, "/ops", nil, 401},
		{"no token, fragment", h, "/ops/fragment", nil, 401},
		{"wrong bearer", h, "/ops", []string{"Authorization", "Bearer nope"}, 401},
		{"shopper session", h, "/ops", []string{"Cookie", "sc_session=abc"}, 401},
		{"forged cookie", h, "/ops", []string{"Cookie", "sc_ops=99999999999.abc"}, 401},
		{"bearer", h, "/ops", []string{"Authorization", "Bearer " + token}, 200},
		{"bearer, fragment", h, "/ops/fragment", []string{"Authorization", "Bearer " + token}, 200},
		{"ops off", closed, "/ops", []string{"Authorization", "Bearer "}, 401},
	}
	for _, tt := range tests {
		code, body, header := testenv.Get(t, tt.h, tt.target, tt.headers...)
		if code != tt.want {
			t.Errorf("%s: GET %s: status %d, want %d", tt.name, tt.target, code, tt.want)
		}
		if code == 200 && strings.Contains(body, "Sign in") {
			t.Errorf("%s: the operations page shows the sign-in form", tt.name)
		}
		if csp := header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q, want the shop's", tt.name, csp)
		}
	}

	if code, _, _ := testenv.PostForm(t, h, "/ops/login", url.Values{"token": {"wrong"}}); code != 401 {
		t.Errorf("login with a wrong token: status %d, want 401", code)
	}
	cookie := signIn(t, h)
	if code, _, _ := testenv.Get(t, h, "/ops", "Cookie", cookie); code != 200 {
		t.Errorf("GET /ops signed in: status %d, want 200", code)
	}
}

func TestSignOutNeedsTheFormToken(t *testing.T) {
	t.Parallel()
	h := newOps(t, testenv.Redis(t), opsConfig(t, ops.Config{OperatorToken: token}), false)
	cookie := signIn(t, h)
	_, page, _ := testenv.Get(t, h, "/ops", "Cookie", cookie)
	m := formTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("ops page has no form token")
	}
	if code, _, _ := testenv.PostForm(t, h, "/ops/logout", url.Values{"csrf": {"forged"}}, "Cookie", cookie); code != http.StatusForbidden {
		t.Errorf("sign-out with a forged form token: status %d, want 403", code)
	}
	code, _, header := testenv.PostForm(t, h, "/ops/logout", url.Values{"csrf": {m[1]}}, "Cookie", cookie)
	if code != http.StatusSeeOther || !strings.Contains(header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("sign-out: %d, Set-Cookie %q, want 303 and the cookie cleared", code, header.Get("Set-Cookie"))
	}
}

// addDeadLetter appends to the dead-letter stream of origin an
// OrderPlaced of order o1 that failed with "boom", and returns its id.
func addDeadLetter(t *testing.T, rdb redis.UniversalClient, origin string) string {
	t.Helper()
	id, err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: stream.DeadLetterStream(origin), Values: []any{
		"eventId", "e1", "eventType", "OrderPlaced", "orderId", "o1",
		"dlq.error", "boom", "dlq.attempts", "3", "dlq.originStream", origin, "dlq.originId", "1-0", "dlq.group", "payments",
	}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestReplayNeedsAnOperatorAndTheFormToken(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	ctx := context.Background()
	origin := testenv.Name(t, "orders")
	h := newOps(t, rdb, ops.Config{OperatorToken: token, Streams: []string{origin}, KeyPrefix: testenv.Name(t, "ops") + ":"}, false)
	dlq := stream.DeadLetterStream(origin)
	id := addDeadLetter(t, rdb, origin)
	bearer := []string{"Authorization", "Bearer " + token}

	_, page, _ := testenv.Get(t, h, "/ops", bearer...)
	for _, want := range []string{origin, "boom", id, "Replay"} {
		if !strings.Contains(page, want) {
			t.Errorf("ops page lacks %q:\n%s", want, page)
		}
	}
	m := formTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("ops page has no form token")
	}
	formToken := m[1]

	for _, tt := range []struct {
		name    string
		form    url.Values
		headers []string
		want    int
	}{
		{"no operator", url.Values{"dlq": {dlq}, "id": {id}, "csrf": {formToken}}, nil, 401},
		{"no form token", url.Values{"dlq": {dlq}, "id": {id}}, bearer, 403},
		{"wrong form token", url.Values{"dlq": {dlq}, "id": {id}, "csrf": {"forged"}}, bearer, 403},
		{"cross-site", url.Values{"dlq": {dlq}, "id": {id}, "csrf": {formToken}}, append([]string{"Sec-Fetch-Site", "cross-site"}, bearer...), 403},
		{"not a dlq of ours", url.Values{"dlq": {"OTHER:dlq"}, "id": {id}, "csrf": {formToken}}, bearer, 400},
		{"not an entry id", url.Values{"dlq": {dlq}, "id": {"nope"}, "csrf": {formToken}}, bearer, 400},
	} {
		if code, _, _ := testenv.PostForm(t, h, "/ops/replay", tt.form, tt.headers...); code != tt.want {
			t.Errorf("%s: replay status %d, want %d", tt.name, code, tt.want)
		}
		if n := rdb.XLen(ctx, dlq).Val(); n != 1 {
			t.Fatalf("%s: dead-letter stream has %d entries, want 1 (untouched)", tt.name, n)
		}
	}

	code, _, header := testenv.PostForm(t, h, "/ops/replay", url.Values{"dlq": {dlq}, "id": {id}, "csrf": {formToken}}, bearer...)
	if code != http.StatusSeeOther || !strings.HasPrefix(header.Get("Location"), "/ops?") {
		t.Fatalf("replay: %d to %q", code, header.Get("Location"))
	}
	if n := rdb.XLen(ctx, dlq).Val(); n != 0 {
		t.Errorf("dead-letter stream has %d entries after the replay, want 0", n)
	}
	entries := rdb.XRange(ctx, origin, "-", "+").Val()
	if len(entries) != 1 || entries[0].Values["orderId"] != "o1" || entries[0].Values["dlq.error"] != nil {
		t.Errorf("origin stream after the replay: %v", entries)
	}
	if code, _, header := testenv.PostForm(t, h, "/ops/replay", url.Values{"dlq": {dlq}, "id": {id}, "csrf": {formToken}}, bearer...); code != http.StatusSeeOther || header.Get("Location") != "/ops?error=gone" {
		t.Errorf("second replay: %d to %q, want 303 to /ops?error=gone", code, header.Get("Location"))
	}
}

func TestSignInTakesAtMostLoginAttemptsPerMinutePerAddress(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	h := newOps(t, rdb, ops.Config{OperatorToken: token, LoginAttempts: 3, KeyPrefix: testenv.Name(t, "ops") + ":"}, true)
	from := func(ip string) int {
		code, _, header := testenv.PostForm(t, h, "/ops/login", url.Values{"token": {"guess"}}, "X-Forwarded-For", ip)
		if code == http.StatusTooManyRequests {
			if s := header.Get("Retry-After"); s == "" || s == "0" || len(s) > 2 {
				t.Errorf("Retry-After %q, want 1 to 60 seconds", s)
			}
		}
		return code
	}
	// However the attempts straddle a minute boundary, one window holds
	// more than 3 of 7.
	limited := false
	for i := 0; i < 7 && !limited; i++ {
		limited = from("192.0.2.7") == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("7 sign-in attempts in a row from one address, none refused")
	}
	if code := from("192.0.2.8"); code != http.StatusUnauthorized {
		t.Errorf("another address: status %d, want its attempt served (401 for a wrong token)", code)
	}
}

// Signing out revokes the login on the server: the cookie, even a copy
// kept from before, opens nothing afterwards. A login lasts LoginTTL.
func TestSignOutRevokesTheLogin(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	cfg := opsConfig(t, ops.Config{OperatorToken: token, LoginTTL: time.Hour})
	h := newOps(t, rdb, cfg, false)
	cookie := signIn(t, h)
	keys := rdb.Keys(t.Context(), cfg.KeyPrefix+"login:*").Val()
	if len(keys) != 1 || strings.Contains(keys[0], strings.TrimPrefix(cookie, "sc_ops=")) {
		t.Fatalf("login keys %q, want one that does not hold the cookie", keys)
	}
	if ttl := rdb.TTL(t.Context(), keys[0]).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("login TTL %v, want LoginTTL (1h)", ttl)
	}
	code, page, _ := testenv.Get(t, h, "/ops", "Cookie", cookie)
	m := formTokenRE.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("GET /ops signed in: %d, form token %v", code, m)
	}
	if code, _, _ := testenv.PostForm(t, h, "/ops/logout", url.Values{"csrf": {m[1]}}, "Cookie", cookie); code != http.StatusSeeOther {
		t.Fatalf("sign-out: status %d, want 303", code)
	}
	for _, target := range []string{"/ops", "/ops/fragment"} {
		if code, _, _ := testenv.Get(t, h, target, "Cookie", cookie); code != http.StatusUnauthorized {
			t.Errorf("GET %s with the cookie after sign-out: status %d, want 401", target, code)
		}
	}
	if code, _, _ := testenv.PostForm(t, h, "/ops/replay", url.Values{"csrf": {m[1]}}, "Cookie", cookie); code != http.StatusUnauthorized {
		t.Errorf("replay with the cookie after sign-out: status %d, want 401", code)
	}
}

// Guessing the token by the Bearer route counts against the same limit
// as the sign-in form: once an address has used up its tries, even the
// right token is refused from it for the rest of the minute. Right
// tokens give their try back, so an operator's script is never limited.
func TestBearerTriesShareTheSignInLimit(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	h := newOps(t, rdb, opsConfig(t, ops.Config{OperatorToken: token, LoginAttempts: 3}), true)
	bearer := func(ip, tok string) int {
		code, _, _ := testenv.Get(t, h, "/ops/fragment", "Authorization", "Bearer "+tok, "X-Forwarded-For", ip)
		return code
	}
	for i := range 10 {
		if code := bearer("192.0.2.9", token); code != http.StatusOK {
			t.Fatalf("right token, request %d: status %d, want 200", i+1, code)
		}
	}

	// However the tries straddle a minute boundary, one window holds
	// more than 3 of 7: form and Bearer guesses alternate.
	limited := false
	for i := 0; i < 7 && !limited; i++ {
		var code int
		if i%2 == 0 {
			code, _, _ = testenv.PostForm(t, h, "/ops/login", url.Values{"token": {"guess"}}, "X-Forwarded-For", "192.0.2.7")
		} else {
			code = bearer("192.0.2.7", "guess")
		}
		limited = code == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("7 guesses from one address by the form and the Bearer route, none refused")
	}
	window := time.Now().Unix() / 60
	if code := bearer("192.0.2.7", token); code != http.StatusTooManyRequests && time.Now().Unix()/60 == window {
		t.Errorf("the right token from the limited address: status %d, want 429", code)
	}
	if code := bearer("192.0.2.8", token); code != http.StatusOK {
		t.Errorf("another address: status %d, want 200", code)
	}
}

// TestJourneyFormRefusesWhatIsNoOrderID: the journey form is an
// operator's; an id that is no order id is 400 before any service is
// asked (here none answers), and without the services' URLs the page
// says that journeys are not set up.
func TestJourneyFormRefusesWhatIsNoOrderID(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	signer, err := auth.NewSigner([]byte(strings.Repeat("k", auth.MinSecretLen)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "http://127.0.0.1:1"
	h := newOps(t, rdb, opsConfig(t, ops.Config{OperatorToken: token,
		Journey: ops.JourneyConfig{OrdersURL: nowhere, PaymentsURL: nowhere, HistoryURL: nowhere, Signer: signer}}), false)
	off := newOps(t, rdb, opsConfig(t, ops.Config{OperatorToken: token}), false)
	bearer := []string{"Authorization", "Bearer " + token}

	tests := []struct {
		name, target string
		h            http.Handler
		headers      []string
		want         int
		says         string
	}{
		{"no operator", "/ops/journey?order=o-1", h, nil, 401, "Sign in"},
		{"the form alone", "/ops/journey", h, bearer, 200, `action="/ops/journey"`},
		{"a space", "/ops/journey?order=a+b", h, bearer, 400, "That is not an order id"},
		{"markup", "/ops/journey?order=%3Cb%3Ex%3C%2Fb%3E", h, bearer, 400, "That is not an order id"},
		{"too long", "/ops/journey?order=" + strings.Repeat("x", web.MaxIDLen+1), h, bearer, 400, "That is not an order id"},
		{"orders not answering", "/ops/journey?order=o-1", h, bearer, 503, "The orders service is not answering"},
		{"not set up", "/ops/journey?order=o-1", off, bearer, 503, "not set up"},
	}
	for _, tt := range tests {
		code, body, _ := testenv.Get(t, tt.h, tt.target, tt.headers...)
		if code != tt.want || !strings.Contains(body, tt.says) {
			t.Errorf("%s: GET %s: status %d, want %d saying %q", tt.name, tt.target, code, tt.want, tt.says)
		}
		if strings.Contains(body, "<b>x") {
			t.Errorf("%s: the page shows the id as markup", tt.name)
		}
	}
}

// With partitions the page shows each partition of a stream, with its
// own dead letters, and replays a dead letter to its partition; the
// logical stream's own name is neither shown as a stream nor a
// dead-letter stream of the page.
func TestEachPartitionIsShownAndItsDeadLetterReplayedToIt(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	ctx := context.Background()
	logical := testenv.Name(t, "orders")
	h := newOps(t, rdb, opsConfig(t, ops.Config{OperatorToken: token, Streams: []string{logical}, Partitions: 3}), false)
	origin := stream.PartitionKey(logical, 2, 3)
	dlq := stream.DeadLetterStream(origin)
	id := addDeadLetter(t, rdb, origin)
	bearer := []string{"Authorization", "Bearer " + token}
	_, page, _ := testenv.Get(t, h, "/ops", bearer...)
	for _, key := range stream.Partitions(logical, 3) {
		if !strings.Contains(page, `data-stream="`+key+`"`) {
			t.Errorf("ops page does not show partition %s", key)
		}
	}
	if !strings.Contains(page, "partition 2 of "+logical) || !strings.Contains(page, id) {
		t.Errorf("ops page does not show partition 2's dead letter %s:\n%s", id, page)
	}
	m := formTokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("ops page has no form token")
	}
	wholeDLQ := url.Values{"dlq": {stream.DeadLetterStream(logical)}, "id": {id}, "csrf": {m[1]}}
	if code, _, _ := testenv.PostForm(t, h, "/ops/replay", wholeDLQ, bearer...); code != http.StatusBadRequest {
		t.Errorf("replay from the logical stream's dead-letter stream: status %d, want 400", code)
	}
	code, _, header := testenv.PostForm(t, h, "/ops/replay", url.Values{"dlq": {dlq}, "id": {id}, "csrf": {m[1]}}, bearer...)
	if code != http.StatusSeeOther || !strings.Contains(header.Get("Location"), url.QueryEscape(origin)) {
		t.Fatalf("replay: %d to %q, want 303 naming %s", code, header.Get("Location"), origin)
	}
	if n := rdb.XLen(ctx, origin).Val(); n != 1 {
		t.Errorf("partition %s has %d entries after the replay, want 1", origin, n)
	}
}
