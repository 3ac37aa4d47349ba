package testenv_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"streamcart/internal/platform/testenv"
)

// echo answers a request with what it received, as JSON.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "path": r.URL.Path, "body": string(body), "form": form.Get("name"),
		"contentType": r.Header.Get("Content-Type"), "site": r.Header.Get("Sec-Fetch-Site"), "x": r.Header.Get("X-Test"),
		"n": 12345678901234567,
	})
}

type echoed struct {
	Method, Path, Body, Form, ContentType, Site, X string
	N                                              any
}

func TestDoSendsAValueAsJSONAndATextAsItIs(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(echo))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		name            string
		rq              testenv.Request
		body, mediaType string
	}{
		{"value", testenv.Request{Method: "PUT", URL: srv.URL + "/a", Body: map[string]int{"qty": 2}}, `{"qty":2}`, "application/json"},
		{"text", testenv.Request{Method: "POST", URL: srv.URL + "/b", Body: "not json", Header: http.Header{"Content-Type": {"text/plain"}}}, "not json", "text/plain"},
		{"bytes", testenv.Request{Method: "POST", URL: srv.URL + "/c", Body: []byte(`{}`)}, `{}`, "application/json"},
		{"no media type", testenv.Request{Method: "POST", URL: srv.URL + "/e", Body: `{}`, Header: testenv.Header("Content-Type", "")}, `{}`, ""},
		{"none", testenv.Request{Method: "GET", URL: srv.URL + "/d", Header: testenv.Header("X-Test", "yes")}, "", ""},
	} {
		resp, data := testenv.Do(t, srv.Client(), tt.rq)
		var got echoed
		testenv.DecodeJSON(t, data, &got)
		if resp.StatusCode != 200 || got.Method != tt.rq.Method || got.Body != tt.body || got.ContentType != tt.mediaType {
			t.Errorf("%s: %s sent %+v, want %s with body %q as %q", tt.name, resp.Status, got, tt.rq.Method, tt.body, tt.mediaType)
		}
		if tt.name == "none" && got.X != "yes" {
			t.Errorf("%s: header X-Test %q, want the request's", tt.name, got.X)
		}
		if got.N != json.Number("12345678901234567") {
			t.Errorf("%s: a number in an open place decoded as %#v, want every digit as a json.Number", tt.name, got.N)
		}
	}
}

func TestGetAndPostFormServeRequestsAsABrowserOnTheSameSiteSends(t *testing.T) {
	t.Parallel()
	code, body, header := testenv.PostForm(t, http.HandlerFunc(echo), "/form", url.Values{"name": {"ada"}}, "X-Test", "yes")
	var got echoed
	testenv.DecodeJSON(t, []byte(body), &got)
	want := echoed{Method: "POST", Path: "/form", Form: "ada", ContentType: "application/x-www-form-urlencoded", Site: "same-origin", X: "yes"}
	got.Body, got.N = "", nil
	if code != 200 || got != want || header.Get("Content-Type") != "application/json" {
		t.Errorf("PostForm: %d %+v %v, want 200 %+v", code, got, header, want)
	}
	code, body, _ = testenv.Get(t, http.HandlerFunc(echo), "/page", "X-Test", "yes")
	testenv.DecodeJSON(t, []byte(body), &got)
	if code != 200 || got.Method != "GET" || got.Path != "/page" || got.X != "yes" {
		t.Errorf("Get: %d %+v, want 200 GET /page with X-Test", code, got)
	}
}
