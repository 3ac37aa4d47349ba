package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/ratelimit"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
)

func TestKeyNamesTheIDAndTheWindow(t *testing.T) {
	t.Parallel()
	l := ratelimit.Limit{Prefix: "gw:rl:ip:", Max: 1, Window: time.Minute}
	at := time.Unix(600, 0)
	if got, want := l.Key("192.0.2.1", at), "gw:rl:ip:192.0.2.1:10"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	if l.Key("192.0.2.1", at.Add(59*time.Second)) != l.Key("192.0.2.1", at) || l.Key("192.0.2.1", at.Add(time.Minute)) == l.Key("192.0.2.1", at) {
		t.Errorf("a window is not one minute long")
	}
}

func TestExceededSaysWhenTheWindowEnds(t *testing.T) {
	t.Parallel()
	l := ratelimit.Limit{Prefix: "p:", Max: 1, Window: time.Minute}
	for _, tt := range []struct {
		into time.Duration
		want string
	}{
		{0, "60"},
		{30 * time.Second, "30"},
		{59*time.Second + 500*time.Millisecond, "1"},
	} {
		rec := httptest.NewRecorder()
		err := l.Exceeded(rec, "IP address", time.Unix(600, 0).Add(tt.into))
		if got := rec.Header().Get("Retry-After"); got != tt.want {
			t.Errorf("%v into the window: Retry-After %s, want %s", tt.into, got, tt.want)
		}
		if web.StatusOf(err) != http.StatusTooManyRequests || !strings.Contains(err.Error(), "IP address") {
			t.Errorf("%v into the window: error %v, want 429 naming the IP address", tt.into, err)
		}
	}
}

func TestPerIPLimitsEachAddressAndFailsOpen(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	l := ratelimit.Limit{Prefix: testenv.Name(t, "rl") + ":", Max: 2, Window: time.Minute}
	serve := func(rdb redis.UniversalClient, ip string) int {
		h := ratelimit.PerIP(rdb, l, testenv.Logger(t), func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(web.StatusOf(err))
		}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = ip + ":5555"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	// However the requests straddle a minute boundary, one window holds
	// more than 2 of 5.
	limited := false
	for i := 0; i < 5 && !limited; i++ {
		limited = serve(rdb, "192.0.2.1") == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("5 requests from one address with a limit of 2, none refused")
	}
	if code := serve(rdb, "192.0.2.2"); code != http.StatusNoContent {
		t.Errorf("another address: status %d, want it served", code)
	}
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	for i := range 5 {
		if code := serve(dead, "192.0.2.1"); code != http.StatusNoContent {
			t.Fatalf("request %d without Redis: status %d, want it served (fail open)", i+1, code)
		}
	}
}
