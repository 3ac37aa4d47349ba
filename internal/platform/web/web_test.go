package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"streamcart/internal/platform/errs"
)

func TestHandleWritesErrors(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{errs.NotFound("", "order not found"), 404, "not_found"},
		{errs.Conflict("price_changed", "the price changed"), 409, "price_changed"},
		{errs.Unavailable(errors.New("db down"), "try later"), 503, "unavailable"},
		{fmt.Errorf("load: %w", io.ErrUnexpectedEOF), 503, "unavailable"}, // a broken database or Redis connection
		{fmt.Errorf("load: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), 503, "unavailable"},
		{fmt.Errorf("load: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}), 503, "unavailable"}, // pg_ctl stop
		{fmt.Errorf("load: %w", pgconn.ErrConnClosed), 503, "unavailable"},
		{&errs.Error{Kind: errs.KindUnavailable, Code: "outcome_unknown", Message: "may or may not", Err: io.ErrUnexpectedEOF}, 503, "outcome_unknown"},
		{fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505"}), 500, "internal"},
		{errors.New("secret detail"), 500, "internal"},
	} {
		rec := httptest.NewRecorder()
		Handle(log, func(http.ResponseWriter, *http.Request) error { return tt.err }).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		var body ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tt.status || body.Error.Code != tt.code {
			t.Errorf("%v: %d %s, want %d %s", tt.err, rec.Code, rec.Body, tt.status, tt.code)
		}
		if (rec.Code == 503) != (rec.Header().Get("Retry-After") != "") {
			t.Errorf("%v: %d with Retry-After %q; want it on every 503 and only there", tt.err, rec.Code, rec.Header().Get("Retry-After"))
		}
		if strings.Contains(rec.Body.String(), "secret detail") {
			t.Errorf("a server fault's detail leaked to the client: %s", rec.Body)
		}
	}
}

func TestCatchAll(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {})
	CatchAll(mux)
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/things/1", 200, ""},
		{"DELETE", "/things/1", 405, "GET"},
		{"GET", "/nothing", 404, ""},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status || rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", tt.method, tt.path, rec.Code, rec.Header().Get("Allow"), tt.status, tt.allow)
		}
		if tt.status != 200 && !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("%s %s: body %s is not a JSON error", tt.method, tt.path, rec.Body)
		}
	}
}

func TestEveryKindHasAStatusAndAName(t *testing.T) {
	seen := map[int]errs.Kind{}
	for k := errs.KindInternal; k <= errs.KindBadGateway; k++ {
		status := statusOfKind(k)
		if k != errs.KindInternal && status == http.StatusInternalServerError {
			t.Errorf("kind %v has no row in the status table", k)
		}
		if prev, dup := seen[status]; dup {
			t.Errorf("kinds %v and %v share status %d", prev, k, status)
		}
		seen[status] = k
		if KindOf(status) != k {
			t.Errorf("KindOf(%d) = %v, want %v", status, KindOf(status), k)
		}
		if strings.HasPrefix(k.String(), "Kind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
}

func TestIntQuery(t *testing.T) {
	for _, tt := range []struct {
		query   string
		want    int
		invalid bool
	}{
		{"", 50, false},
		{"limit=", 50, false},
		{"limit=1", 1, false},
		{"limit=100", 100, false},
		{"limit=0", 0, true},
		{"limit=101", 0, true},
		{"limit=-3", 0, true},
		{"limit=ten", 0, true},
		{"limit=1e2", 0, true},
		{"limit=" + strings.Repeat("9", 40), 0, true},
	} {
		n, err := IntQuery(httptest.NewRequest("GET", "/x?"+tt.query, nil), "limit", 50, 1, 100)
		switch {
		case tt.invalid && (errs.KindOf(err) != errs.KindInvalid || !strings.Contains(err.Error(), "invalid_limit")):
			t.Errorf("?%s: err = %v, want invalid_limit", tt.query, err)
		case !tt.invalid && (err != nil || n != tt.want):
			t.Errorf("?%s: %d, %v; want %d", tt.query, n, err, tt.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"p-00131": true, "0194f1c2-7a3b-7c4d-8e5f-0123456789ab": true, "A_b-9": true,
		"": false, strings.Repeat("a", MaxIDLen+1): false, "a b": false, "a/b": false,
		"a\x00": false, "é": false, "a%2F": false, "..": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestGetByIDAsksOnlyForValidIDs: a valid id is asked for and its answer
// written as JSON; an id that is no id is 404 without asking; the
// getter's error is the answer.
func TestGetByIDAsksOnlyForValidIDs(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var asked []string
	get := func(_ context.Context, id string) (map[string]string, error) {
		asked = append(asked, id)
		if id == "gone" {
			return nil, errs.NotFound("", "no such thing")
		}
		return map[string]string{"id": id}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /things/{id}", Handle(log, GetByID("id", get)))
	for _, tt := range []struct {
		path string
		code int
		body string
	}{
		{"/things/t-1", 200, `{"id":"t-1"}`},
		{"/things/gone", 404, `"no such thing"`},
		{"/things/a%20b", 404, `"no such id"`},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("GET %s: %d %s, want %d with %s", tt.path, rec.Code, rec.Body, tt.code, tt.body)
		}
	}
	if fmt.Sprint(asked) != "[t-1 gone]" {
		t.Errorf("asked for %v, want [t-1 gone]", asked)
	}
}

func TestParseBaseURL(t *testing.T) {
	for s, want := range map[string]bool{
		"http://127.0.0.1:8081": true, "https://shop.example/api": true,
		"": false, "127.0.0.1:8081": false, "ftp://host": false, "http://": false, "/products": false, "http://[::1": false,
	} {
		u, err := ParseBaseURL(s)
		if got := err == nil; got != want {
			t.Errorf("ParseBaseURL(%q) error %v, want ok %v", s, err, want)
		}
		if err == nil && u.String() != s {
			t.Errorf("ParseBaseURL(%q) = %q", s, u)
		}
	}
}

func TestProbeIsNilOnlyFor200(t *testing.T) {
	t.Parallel()
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/readyz" {
			t.Errorf("probe sent %s %s, want GET /readyz", r.Method, r.URL.Path)
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	if err := Probe(t.Context(), srv.Client(), srv.URL+"/readyz"); err != nil {
		t.Errorf("Probe of a ready service: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := Probe(t.Context(), srv.Client(), srv.URL+"/readyz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Probe of an unready service = %v, want an error naming 503", err)
	}
	srv.Close()
	if err := Probe(t.Context(), srv.Client(), srv.URL+"/readyz"); err == nil {
		t.Error("Probe of a closed server = nil")
	}
}

func TestNewJSONRequest(t *testing.T) {
	t.Parallel()
	req, err := NewJSONRequest(t.Context(), http.MethodPost, "http://127.0.0.1/orders", map[string]int{"qty": 2})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	if string(body) != `{"qty":2}` || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request with a body: %q, Content-Type %q", body, req.Header.Get("Content-Type"))
	}
	req, err = NewJSONRequest(t.Context(), http.MethodGet, "http://127.0.0.1/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.Body != nil || req.Header.Get("Content-Type") != "" {
		t.Errorf("request without a body has body %v, Content-Type %q", req.Body, req.Header.Get("Content-Type"))
	}
	if _, err := NewJSONRequest(t.Context(), http.MethodPost, "http://127.0.0.1/orders", make(chan int)); err == nil {
		t.Error("a body that does not encode made a request")
	}
}
