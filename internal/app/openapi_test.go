package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// apiDocPath is the gateway's API document, relative to this package.
const apiDocPath = "../../docs/openapi.yaml"

// apiDoc loads and validates the API document once for all tests.
var apiDoc = sync.OnceValues(func() (routers.Router, error) {
	// Bodies that are text, not JSON, are checked for their content type
	// only: their schemas are plain strings.
	for _, ct := range []string{"image/svg+xml", "text/html"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(apiDocPath)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", apiDocPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate %s: %w", apiDocPath, err)
	}
	// The document's one server is "/", relative to wherever the gateway
	// runs: the router is to match paths only.
	doc.Servers = nil
	return legacy.NewRouter(doc)
})

func TestAPIDocumentIsValidOpenAPI(t *testing.T) {
	t.Parallel()
	if _, err := apiDoc(); err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(apiDocPath)
	if err != nil {
		t.Fatal(err)
	}
	// Client generators name their functions after operationId.
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	seen := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			switch {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", where)
			case !camel.MatchString(op.OperationID):
				t.Errorf("%s: operationId %q is not camelCase", where, op.OperationID)
			case seen[op.OperationID] != "":
				t.Errorf("%s: operationId %q is also %s's", where, op.OperationID, seen[op.OperationID])
			}
			seen[op.OperationID] = where
			if op.Responses.Default() != nil {
				t.Errorf("%s has a default response: list the statuses it answers", where)
			}
		}
	}
}

// apiChecker is an http.RoundTripper that checks every exchange with the
// gateway against the API document: the route must be in it, the
// response's status, content type and body must be the ones it describes,
// and a request it calls invalid must be refused. Requests to other hosts
// (the services' own APIs) pass unchecked.
type apiChecker struct {
	t       testing.TB
	base    http.RoundTripper
	host    string // the gateway's host:port
	router  routers.Router
	checked atomic.Int64 // exchanges checked
}

// checkAPI returns a transport that checks the traffic to gatewayURL
// against the API document; with gatewayURL "" it checks nothing.
func checkAPI(t testing.TB, gatewayURL string) *apiChecker {
	t.Helper()
	router, err := apiDoc()
	if err != nil {
		t.Fatal(err)
	}
	c := &apiChecker{t: t, base: http.DefaultTransport, router: router}
	if gatewayURL != "" {
		u, err := url.Parse(gatewayURL)
		if err != nil {
			t.Fatal(err)
		}
		c.host = u.Host
	}
	return c
}

func (c *apiChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.host == "" || req.URL.Host != c.host {
		return c.base.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	// An event stream does not end: its status and content type are
	// checked, its body is left to the caller.
	stream := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	var data []byte
	if !stream {
		data, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		if err != nil {
			return resp, nil // the caller sees the short body
		}
	}
	if err := c.check(req, body, resp.StatusCode, resp.Header, data, stream); err != nil {
		c.t.Errorf("API document: %s %s → %d: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
	}
	return resp, nil
}

// check checks one exchange against the document.
func (c *apiChecker) check(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte, stream bool) error {
	c.checked.Add(1)
	// The validator reads the body and may set defaults: give it a copy.
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		return fmt.Errorf("route not in the document: %w", err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		ExcludeResponseBody:   stream,
		SkipSettingDefaults:   true,
		MultiError:            true,
		// The server checks sessions; the document only names them.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	// A request the document calls invalid may be sent to see it
	// refused; accepting it means the document is stricter than the
	// server.
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && status < 400 {
		return fmt.Errorf("the gateway accepted a request the document calls invalid: %w", err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err
	}
	return nil
}

// The checker is only useful if it fails on what the document does not
// describe: here it meets an undocumented status, an undocumented field,
// an undocumented route and an undocumented content type.
func TestAPICheckerCatchesWhatTheDocumentDoesNotDescribe(t *testing.T) {
	t.Parallel()
	cart := `{"items":[],"totalCents":0}`
	for _, tt := range []struct {
		name, method, path string
		status             int
		contentType, body  string
		want               string // in the checker's error; "" for none
	}{
		{"documented", "GET", "/api/v1/cart", 200, "application/json", cart, ""},
		{"undocumented status", "GET", "/api/v1/cart", 418, "application/json", `{"error":{"code":"teapot","message":"no"}}`, "status is not supported"},
		{"undocumented field", "GET", "/api/v1/cart", 200, "application/json", `{"items":[],"totalCents":0,"coupon":"X"}`, "coupon"},
		{"missing field", "GET", "/api/v1/cart", 200, "application/json", `{"items":[]}`, "totalCents"},
		{"undocumented error shape", "GET", "/api/v1/cart", 503, "application/json", `{"error":"down"}`, "doesn't match"},
		{"undocumented route", "GET", "/api/v1/wishlist", 200, "application/json", `{}`, "route not in the document"},
		{"undocumented method", "PATCH", "/api/v1/cart", 200, "application/json", cart, "route not in the document"},
		{"undocumented content type", "GET", "/api/v1/cart", 200, "text/plain", "hello", "text/plain"},
		{"accepted invalid request", "PUT", "/api/v1/cart/items/p1", 200, "application/json", cart, "calls invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var reqBody []byte
			if tt.method == "PUT" {
				reqBody = []byte(`{"qty":100}`) // more than 99
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			rec := &recordingT{TB: t}
			c := checkAPI(rec, srv.URL)
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, bytes.NewReader(reqBody))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := (&http.Client{Transport: c}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != tt.body {
				t.Errorf("the caller read %q, want the server's %q", got, tt.body)
			}
			if c.checked.Load() != 1 {
				t.Errorf("checked %d exchanges, want 1", c.checked.Load())
			}
			switch msg := rec.errors(); {
			case tt.want == "" && msg != "":
				t.Errorf("checker failed a documented exchange: %s", msg)
			case tt.want != "" && !strings.Contains(msg, tt.want):
				t.Errorf("checker error %q, want one containing %q", msg, tt.want)
			}
		})
	}
}

// recordingT records the errors the checker reports instead of failing.
type recordingT struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingT) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingT) errors() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}
