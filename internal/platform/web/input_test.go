package web

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/testenv"
)

// wantClientError checks that err is an *errs.Error of a 4xx kind with a
// message that leaks nothing.
func wantClientError(t testing.TB, what string, err error) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok {
		t.Errorf("%s: error %v (%T) is not an *errs.Error", what, err, err)
		return
	}
	if s := StatusOf(err); s < 400 || s >= 500 {
		t.Errorf("%s: error %v has status %d, want a 4xx", what, err, s)
	}
	if e.Message == "" || e.Code == "" {
		t.Errorf("%s: error %v has no code or message", what, err)
	}
	if l := testenv.Leak(e.Message); l != "" {
		t.Errorf("%s: message %q leaks %s", what, e.Message, l)
	}
}

// TestDecodeJSONTakesOneObjectOfTextSentAsJSON: DecodeJSON takes one
// JSON object of known fields, in valid UTF-8 without NUL, sent as JSON
// and no larger than its limit; it refuses anything else with a client
// error that names what is wrong.
func TestDecodeJSONTakesOneObjectOfTextSentAsJSON(t *testing.T) {
	t.Parallel()
	type body struct {
		Name string `json:"name"`
		Qty  int    `json:"qty"`
	}
	tests := []struct {
		name, in, ctype string
		status          int
		code            string
	}{
		{"ok", `{"name":"a","qty":2}`, "application/json", 200, ""},
		{"syntax", `{"name":`, "application/json", 400, "invalid_json"},
		{"unknown field", `{"nme":"a"}`, "application/json", 400, "unknown_field"},
		{"wrong type", `{"qty":"two"}`, "application/json", 400, "invalid_field"},
		{"not an object", `[1]`, "application/json", 400, "invalid_json"},
		{"two values", `{} {}`, "application/json", 400, "invalid_json"},
		{"empty", ``, "application/json", 400, "invalid_json"},
		{"too large", `{"name":"` + strings.Repeat("x", 64<<10) + `"}`, "application/json", 413, "body_too_large"},
		{"NUL escape in a value", `{"name":"a\u0000b"}`, "application/json", 400, "invalid_text"},
		{"NUL escape in a key", `{"na\u0000me":"a"}`, "application/json", 400, "invalid_text"},
		{"escaped backslash then u0000 is text", `{"name":"a\\u0000"}`, "application/json", 200, ""},
		{"raw NUL", "{\"name\":\"a\x00\"}", "application/json", 400, "invalid_json"},
		{"invalid UTF-8", "{\"name\":\"\xff\xfe\"}", "application/json", 400, "invalid_utf8"},
		{"trailing garbage", `{"name":"a"}GARBAGE`, "application/json", 400, "invalid_json"},
		{"trailing space", "{\"name\":\"a\"} \r\n\t", "application/json", 200, ""},
		{"jsonx", `{}`, "application/jsonx", 415, "unsupported_media_type"},
		{"no content type", `{"name":"a"}`, "", 415, "unsupported_media_type"},
		{"charset", `{}`, "application/json; charset=utf-8", 200, ""},
		{"upper case", `{}`, "Application/JSON", 200, ""},
		{"a +json type", `{}`, "application/merge-patch+json", 200, ""},
		{"text/plain", `{}`, "text/plain", 415, "unsupported_media_type"},
		{"a number too large", `{"qty":1e400}`, "application/json", 400, "invalid_field"},
		{"a long unknown field", `{"` + strings.Repeat("x", 5000) + `":1}`, "application/json", 400, "unknown_field"},
		{"deep nesting", `{"name":` + strings.Repeat("[", 20000) + `}`, "application/json", 400, "invalid_json"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
		if tt.ctype != "" {
			r.Header.Set("Content-Type", tt.ctype)
		}
		var b body
		err := DecodeJSON(r, 64<<10, &b)
		switch {
		case tt.status == 200 && err != nil:
			t.Errorf("%s: DecodeJSON(%.40q) = %v, want nil", tt.name, tt.in, err)
		case tt.status != 200:
			wantClientError(t, tt.name, err)
			if e, _ := errs.As(err); e == nil || StatusOf(err) != tt.status || e.Code != tt.code {
				t.Errorf("%s: DecodeJSON(%.40q) = %v, want %d %s", tt.name, tt.in, err, tt.status, tt.code)
			}
			if e, _ := errs.As(err); e != nil && len(e.Message) > 300 {
				t.Errorf("%s: message of %d bytes; a client's input must be cut short in it", tt.name, len(e.Message))
			}
		}
	}
}

// timeoutReader fails as a socket whose read deadline passed.
type timeoutReader struct{}

func (timeoutReader) Read([]byte) (int, error) {
	return 0, &os.PathError{Op: "read", Path: "tcp 127.0.0.1:8080->127.0.0.1:51234", Err: os.ErrDeadlineExceeded}
}

func TestDecodeJSONNeverShowsAReadErrorToTheClient(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(`{"name":`), timeoutReader{}))
	r.Header.Set("Content-Type", "application/json")
	var v struct{ Name string }
	err := DecodeJSON(r, 1<<10, &v)
	wantClientError(t, "a body read that timed out", err)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("error %v lost its cause, which the log needs", err)
	}
}

func TestLenientJSONTakesNoContentTypeAnEmptyBodyAndUnknownFieldsButNoTrailingData(t *testing.T) {
	t.Parallel()
	rules := JSONRules{MaxBytes: 1 << 10, AnyContentType: true, EmptyOK: true, UnknownFields: true, UseNumber: true}
	for _, tt := range []struct {
		name, in, ctype string
		ok              bool
	}{
		{"no content type", `{"name":"a"}`, "", true},
		{"text/plain", `{"name":"a"}`, "text/plain;charset=UTF-8", true},
		{"empty", ``, "", true},
		{"only space", " \n", "", true},
		{"unknown field", `{"name":"a","other":1}`, "", true},
		{"trailing garbage", `{"name":"a"}GARBAGE`, "", false},
		{"two values", `{} {}`, "", false},
		{"NUL", `{"name":"\u0000"}`, "", false},
		{"invalid UTF-8", "{\"name\":\"\xc3\"}", "", false},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
		if tt.ctype != "" {
			r.Header.Set("Content-Type", tt.ctype)
		}
		var v struct {
			Name string `json:"name"`
		}
		err := DecodeJSONBody(r, rules, &v)
		if tt.ok && err != nil {
			t.Errorf("%s: %v, want nil", tt.name, err)
		}
		if !tt.ok {
			wantClientError(t, tt.name, err)
		}
	}
}

func TestCheckURLRefusesNULInvalidUTF8AndOverlongParts(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxQueryValueLen+1)
	for _, tt := range []struct {
		target string
		code   string // "" for accepted
	}{
		{"/products?q=puma&limit=3", ""},
		{"/products?q=%C3%A9t%C3%A9+%E2%82%AC", ""}, // été €
		{"/products?q=" + strings.Repeat("a", MaxQueryValueLen), ""},
		{"/products?q=%00", "invalid_query"},
		{"/products?q=a%00b", "invalid_query"},
		{"/products?q=%FF", "invalid_query"},
		{"/products?q=%C3", "invalid_query"},
		{"/products?%00=1", "invalid_query"},
		{"/products?q=%0A", "invalid_query"},
		{"/products?q=%ZZ", "invalid_query"},
		{"/products?q=a;b", "invalid_query"},
		{"/products?q=" + long, "invalid_query"},
		{"/products?" + long + "=1", "invalid_query"},
		{"/products?" + strings.Repeat("a=1&", MaxQueryParams+1), "invalid_query"},
		{"/products/%00", "invalid_path"},
		{"/products/%FF", "invalid_path"},
		{"/products/" + strings.Repeat("a", MaxPathLen), "invalid_path"},
	} {
		r := httptest.NewRequest("GET", tt.target, nil)
		err := CheckURL(r)
		if tt.code == "" {
			if err != nil {
				t.Errorf("%.60s: %v, want nil", tt.target, err)
			}
			continue
		}
		wantClientError(t, tt.target, err)
		if e, _ := errs.As(err); e == nil || e.Code != tt.code || StatusOf(err) != 400 {
			t.Errorf("%.60s: %v, want 400 %s", tt.target, err, tt.code)
		}
	}
}

func TestEveryServiceResponseIsNoSniffAndHostileURLsGet400(t *testing.T) {
	t.Parallel()
	reached := false
	mux := http.NewServeMux()
	mux.Handle("GET /things", Handle(slog.New(slog.DiscardHandler), func(w http.ResponseWriter, r *http.Request) error {
		reached = true
		WriteJSON(w, 200, map[string]string{"q": r.URL.Query().Get("q")})
		return nil
	}))
	h := serviceChain(mux, slog.New(slog.DiscardHandler), nil)
	for _, tt := range []struct {
		target string
		status int
	}{
		{"/things?q=a", 200},
		{"/things?q=%00", 400},
		{"/things?q=%FF", 400},
		{"/nothing", 404},
		{"/healthz", 200},
	} {
		reached = false
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.target, nil))
		if rec.Code != tt.status {
			t.Errorf("%s: %d, want %d", tt.target, rec.Code, tt.status)
		}
		if tt.status == 400 && reached {
			t.Errorf("%s: the handler saw a query the service refuses", tt.target)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", tt.target, got)
		}
		if rec.Code >= 400 {
			if l := testenv.LeakInBody(rec.Body.Bytes()); l != "" {
				t.Errorf("%s: body %s leaks %s", tt.target, rec.Body, l)
			}
		}
	}
}

// A query the server receives raw (not through httptest's parser) gets
// the same answer.
func TestCheckURLOnTheWire(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(serviceChain(http.NewServeMux(), slog.New(slog.DiscardHandler), nil))
	defer srv.Close()
	client := &http.Client{Timeout: 30 * time.Second}
	for _, raw := range []string{"q=%00", "q=%FF", "q=" + url.QueryEscape("\x00")} {
		resp, body := testenv.Do(t, client, testenv.Request{Method: "GET", URL: srv.URL + "/healthz?" + raw})
		if resp.StatusCode != 400 || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("?%s: %s %s, want 400 with nosniff", raw, resp.Status, body)
		}
	}
}

// serviceChain finishes mux as auth.Routes does for every service:
// unrouted requests, health, request id, access log, input check and
// nosniff.
func serviceChain(mux *http.ServeMux, log *slog.Logger, checks map[string]Check) http.Handler {
	CatchAll(mux)
	Health(mux, log, checks)
	return WithRequestID(NoSniff(AccessLog(log, CheckInput(log, mux))))
}

func TestClientIPIsThePeerUnlessAProxyIsTrustedThenTheRightmostForwardedEntry(t *testing.T) {
	t.Parallel()
	check := func(what, remote string, trust bool, xff []string, want string) {
		t.Helper()
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		for _, v := range xff {
			r.Header.Add(ForwardedForHeader, v)
		}
		if got := DecideClientIP(r, trust); got != want {
			t.Errorf("%s: DecideClientIP(remote %s, XFF %q, trust %v) = %s, want %s", what, remote, xff, trust, got, want)
		}
	}
	// Without trust: the peer, whatever a forwarded entry claims.
	for remote, want := range map[string]string{
		"192.0.2.1:5555":             "192.0.2.1",
		"[2001:db8::1]:443":          "2001:db8::1",
		"[2001:0db8:0000::0001]:443": "2001:db8::1", // ipv6 in long form
		"[::ffff:192.0.2.1]:443":     "192.0.2.1",   // ipv4-mapped
		"[fe80::1%eth0]:443":         "fe80::1",     // with a zone
		"192.0.2.1":                  "192.0.2.1",   // without a port
		"@":                          "@",           // no address
	} {
		check("peer", remote, false, nil, want)
		check("spoofed XFF ignored without trust", remote, false, []string{"203.0.113.9"}, want)
	}
	// Trusting the proxy that is the peer: the rightmost entry of the last
	// header line, or the proxy itself when that entry is no address.
	const proxy = "10.0.0.1:5555"
	for _, tt := range []struct {
		name string
		xff  []string // one header line each
		want string
	}{
		{"rightmost entry", []string{"198.51.100.7, 203.0.113.9"}, "203.0.113.9"},
		{"rightmost of the last line", []string{"198.51.100.7", "203.0.113.10"}, "203.0.113.10"},
		{"the client's own entries are ignored", []string{"1.1.1.1, 2.2.2.2, 203.0.113.11"}, "203.0.113.11"},
		{"ipv6 entry", []string{"2001:db8::7"}, "2001:db8::7"},
		{"entry with a port", []string{"203.0.113.12:61000"}, "203.0.113.12"},
		{"bracketed ipv6 with a port", []string{"[2001:db8::8]:61000"}, "2001:db8::8"},
		{"ipv4-mapped entry", []string{"::ffff:203.0.113.13"}, "203.0.113.13"},
		{"spaces", []string{"  203.0.113.14  "}, "203.0.113.14"},
		{"garbage falls back to the peer", []string{"not-an-ip"}, "10.0.0.1"},
		{"garbage never promotes an earlier entry", []string{"203.0.113.15, unknown"}, "10.0.0.1"},
		{"empty rightmost entry", []string{"203.0.113.16,"}, "10.0.0.1"},
		{"empty header", []string{""}, "10.0.0.1"},
		{"none", nil, "10.0.0.1"},
	} {
		check("trusted: "+tt.name, proxy, true, tt.xff, tt.want)
	}
}

func TestClientIPReadsTheDecisionOfWithClientIP(t *testing.T) {
	t.Parallel()
	var got string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientIP(r) })
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:5555"
	r.Header.Set(ForwardedForHeader, "203.0.113.9")

	WithClientIP(true, h).ServeHTTP(httptest.NewRecorder(), r)
	if got != "203.0.113.9" {
		t.Errorf("behind WithClientIP(trust): ClientIP = %s, want the forwarded 203.0.113.9", got)
	}
	WithClientIP(false, h).ServeHTTP(httptest.NewRecorder(), r)
	if got != "10.0.0.1" {
		t.Errorf("behind WithClientIP(no trust): ClientIP = %s, want the peer 10.0.0.1", got)
	}
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got != "10.0.0.1" {
		t.Errorf("without WithClientIP: ClientIP = %s, want the peer 10.0.0.1, never a header", got)
	}
}
