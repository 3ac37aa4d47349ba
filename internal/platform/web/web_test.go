package web

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
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
		{"no content type", `{"name":"a"}`, "", 200, ""},
		{"wrong content type", `{}`, "text/plain", 415, "unsupported_media_type"},
		{"syntax", `{"name":`, "application/json", 400, "invalid_json"},
		{"unknown field", `{"nme":"a"}`, "application/json", 400, "unknown_field"},
		{"wrong type", `{"qty":"two"}`, "application/json", 400, "invalid_field"},
		{"not an object", `[1]`, "application/json", 400, "invalid_json"},
		{"two values", `{} {}`, "application/json", 400, "invalid_json"},
		{"empty", ``, "application/json", 400, "invalid_json"},
		{"too large", `{"name":"` + strings.Repeat("x", 100) + `"}`, "application/json", 413, "body_too_large"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
		if tt.ctype != "" {
			r.Header.Set("Content-Type", tt.ctype)
		}
		var b body
		err := DecodeJSON(r, 64, &b)
		var we *Error
		switch {
		case tt.status == 200 && err != nil:
			t.Errorf("%s: DecodeJSON = %v, want nil", tt.name, err)
		case tt.status != 200 && (!errors.As(err, &we) || we.Status != tt.status || we.Code != tt.code || we.Message == ""):
			t.Errorf("%s: DecodeJSON = %v, want %d %s with a message", tt.name, err, tt.status, tt.code)
		}
	}
}

func TestHandleWritesErrors(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{NotFound("order not found"), 404, "not_found"},
		{Unavailable(errors.New("db down"), "try later"), 503, "unavailable"},
		{errors.New("secret detail"), 500, "internal"},
	} {
		rec := httptest.NewRecorder()
		Handle(log, func(http.ResponseWriter, *http.Request) error { return tt.err }).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		var body ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tt.status || body.Error.Code != tt.code {
			t.Errorf("%v: %d %s, want %d %s", tt.err, rec.Code, rec.Body, tt.status, tt.code)
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
