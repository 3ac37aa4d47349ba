package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// Request is an HTTP request a test sends with Do.
type Request struct {
	Method, URL string
	// Body is sent as it is when it is a string, []byte or io.Reader, and
	// as JSON otherwise; nil sends no body.
	Body any
	// Header is added to the request. A request with a body is sent with
	// Content-Type application/json unless Header names another; a
	// Content-Type of "" sends none.
	Header http.Header
}

// Do sends rq with client (http.DefaultClient when nil) and returns the
// response with its body read and closed. A request that cannot be sent
// or an answer that cannot be read fails the test.
func Do(tb testing.TB, client *http.Client, rq Request) (*http.Response, []byte) {
	tb.Helper()
	var body io.Reader
	switch b := rq.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatalf("%s %s: encode body: %v", rq.Method, rq.URL, err)
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(tb.Context(), rq.Method, rq.URL, body)
	if err != nil {
		tb.Fatal(err)
	}
	maps.Copy(req.Header, rq.Header)
	switch _, named := rq.Header["Content-Type"]; {
	case named && rq.Header.Get("Content-Type") == "":
		req.Header.Del("Content-Type")
	case !named && rq.Body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", rq.Method, rq.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", rq.Method, rq.URL, err)
	}
	return resp, data
}

// DecodeJSON decodes the JSON text body into v, failing the test if it
// cannot. Numbers in places v leaves open (any) become json.Number, so
// that they keep every digit.
func DecodeJSON(tb testing.TB, body []byte, v any) {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("decode %s: %v", body, err)
	}
}

// Header returns a header of name, value pairs.
func Header(pairs ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Set(pairs[i], pairs[i+1])
	}
	return h
}

// Serve serves req by h and returns the answer's status, body and header.
func Serve(h http.Handler, req *http.Request) (int, string, http.Header) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

// Get serves a GET of target by h, with headers given as name, value
// pairs, and returns the answer's status, body and header.
func Get(tb testing.TB, h http.Handler, target string, headers ...string) (int, string, http.Header) {
	tb.Helper()
	req := httptest.NewRequest("GET", target, nil)
	maps.Copy(req.Header, Header(headers...))
	return Serve(h, req)
}

// PostForm serves a POST of form to target by h as a browser sends a form
// of the same site (Sec-Fetch-Site: same-origin), with headers given as
// name, value pairs, and returns the answer's status, body and header.
func PostForm(tb testing.TB, h http.Handler, target string, form url.Values, headers ...string) (int, string, http.Header) {
	tb.Helper()
	req := httptest.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	maps.Copy(req.Header, Header(headers...))
	return Serve(h, req)
}
