package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"streamcart/internal/app"
)

// apiDocPath is the gateway's API document, relative to this package.
const apiDocPath = "../../docs/openapi.yaml"

// apiDoc loads and validates the API document once for all tests.
var apiDoc = sync.OnceValues(func() (routers.Router, error) {
	// Bodies that are text, not JSON, are checked for their content type
	// only: their schemas are plain strings.
	for _, ct := range []string{"image/svg+xml", "text/html", "text/css", "text/javascript"} {
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

	mu  sync.Mutex
	ops map[string]int // exchanges per operationId
}

// checkAPI returns a transport that checks the traffic to gatewayURL
// against the API document; with gatewayURL "" it checks nothing.
func checkAPI(t testing.TB, gatewayURL string) *apiChecker {
	t.Helper()
	router, err := apiDoc()
	if err != nil {
		t.Fatal(err)
	}
	c := &apiChecker{t: t, base: http.DefaultTransport, router: router, ops: map[string]int{}}
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
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		return fmt.Errorf("route not in the document: %w", err)
	}
	c.mu.Lock()
	c.ops[route.Operation.OperationID]++
	c.mu.Unlock()
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
	if err := openapi3filter.ValidateRequest(vreq.Context(), in); err != nil && status < 400 {
		return fmt.Errorf("the gateway accepted a request the document calls invalid: %w", err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(vreq.Context(), out); err != nil {
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

// A shopper's tour of the whole API, every answer checked against the
// document by the shop's client: each documented operation is called at
// least once, with its usual successes and errors.
func TestEveryAPIOperationAnswersAsDocumented(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	gw := s.sys.URLs[app.Gateway]
	sh := s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", "192.0.2.50")
	expect := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: status %d, want %d", what, got, want)
		}
	}

	expect("liveness", sh.do("GET", "/healthz", nil, nil), 200)
	expect("readiness", sh.do("GET", "/readyz", nil, nil), 200)

	var page struct{ Products []product }
	expect("search", sh.do("GET", "/api/v1/products?q=PUMA&limit=3", nil, &page), 200)
	if len(page.Products) < 2 {
		t.Fatalf("search found %d products, want 2 or more", len(page.Products))
	}
	p, q := page.Products[0], page.Products[1]
	expect("product", sh.do("GET", "/api/v1/products/"+p.ID, nil, nil), 200)
	expect("unknown product", sh.do("GET", "/api/v1/products/no-such-product", nil, nil), 404)
	expect("image", sh.do("GET", "/api/v1/products/"+p.ID+"/image.svg", nil, nil), 200)
	expect("image at imageUrl", sh.do("GET", "/products/"+p.ID+"/image.svg", nil, nil), 200)
	expect("categories", sh.do("GET", "/api/v1/categories", nil, nil), 200)

	// The cart.
	expect("empty cart", sh.do("GET", "/api/v1/cart", nil, nil), 200)
	expect("add", sh.do("PUT", "/api/v1/cart/items/"+p.ID, map[string]int{"qty": 2}, nil), 200)
	expect("add another", sh.do("PUT", "/api/v1/cart/items/"+q.ID, map[string]int{"qty": 1}, nil), 200)
	expect("too many", sh.do("PUT", "/api/v1/cart/items/"+p.ID, map[string]int{"qty": 100}, nil), 400)
	expect("unknown product in cart", sh.do("PUT", "/api/v1/cart/items/no-such-product", map[string]int{"qty": 1}, nil), 422)
	expect("remove", sh.do("DELETE", "/api/v1/cart/items/"+q.ID, nil, nil), 200)
	var checkedOut order
	expect("checkout", sh.do("POST", "/api/v1/cart/checkout", nil, &checkedOut), 201)
	expect("checkout of an empty cart", sh.do("POST", "/api/v1/cart/checkout", nil, nil), 400)
	expect("add again", sh.do("PUT", "/api/v1/cart/items/"+q.ID, map[string]int{"qty": 1}, nil), 200)
	expect("empty the cart", sh.do("DELETE", "/api/v1/cart", nil, nil), 200)

	// Orders.
	wrong := p.PriceCents + 1
	expect("stale price", sh.do("POST", "/api/v1/orders", map[string]any{"items": []item{{ProductID: p.ID, Qty: 1, PriceCents: &wrong}}}, nil), 409)
	expect("no items", sh.do("POST", "/api/v1/orders", map[string]any{"items": []item{}}, nil), 400)
	body := map[string]any{"items": []item{{ProductID: q.ID, Qty: 1, PriceCents: &q.PriceCents}}}
	var o order
	expect("order", sh.do("POST", "/api/v1/orders", body, &o, "Idempotency-Key", "tour-1"), 201)
	expect("order again", sh.do("POST", "/api/v1/orders", body, nil, "Idempotency-Key", "tour-1"), 200)
	sh.settledRecord(o.OrderID)
	sh.settledRecord(checkedOut.OrderID)
	expect("order by id", sh.do("GET", "/api/v1/orders/"+o.OrderID, nil, nil), 200)
	expect("unknown order", sh.do("GET", "/api/v1/orders/0193a1e2-7c4f-7d2a-9b1e-2f6c8d9e0a1b", nil, nil), 404)
	expect("bad history limit", sh.do("GET", "/api/v1/orders?limit=0", nil, nil), 400)

	// Order updates: the stream's head is checked, then it is closed.
	sh.openEvents()

	// The tutorial API.
	code, found := sh.tutorialSearch("puma")
	expect("tutorial search", code, 200)
	if len(found.Data) == 0 {
		t.Fatal("tutorial search found nothing")
	}
	line := map[string]any{"productId": found.Data[0].ProductID, "qty": 1, "productPrice": found.Data[0].Data.Price}
	expect("tutorial order", sh.do("POST", "/orders/createOrder", map[string]any{"products": []any{line}}, nil), 200)
	line["productPrice"] = json.Number("1.001")
	expect("tutorial order at a price with three decimals", sh.do("POST", "/orders/createOrder", map[string]any{"products": []any{line}}, nil), 400)
	expect("tutorial history", sh.do("GET", "/orderHistory/viewOrderHistory", nil, nil), 200)

	// Sessions: a cross-origin write with the cookie is refused; logging
	// out revokes the token.
	other := s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", "192.0.2.51")
	expect("cross-origin checkout", request(t, s.client, "POST", gw+"/api/v1/cart/checkout", nil, nil,
		http.Header{"Cookie": {"sc_session=" + other.token}, "Origin": {"http://evil.example"}}), 403)
	expect("logout", other.do("DELETE", "/api/v1/session", nil, nil), 204)
	expect("cart after logout", other.do("GET", "/api/v1/cart", nil, nil), 401)

	// Some of the storefront's pages (which read the session from the
	// cookie, not the Authorization header).
	for _, path := range []string{"/", "/fragments/products?q=puma", "/cart", "/orders", "/fragments/orders", "/static/app.css", "/static/app.js"} {
		expect(path, sh.do("GET", path, nil, nil), 200)
	}

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(apiDocPath)
	if err != nil {
		t.Fatal(err)
	}
	s.api.mu.Lock()
	defer s.api.mu.Unlock()
	var missed []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if s.api.ops[op.OperationID] == 0 && !slices.Contains(op.Tags, "storefront") {
				missed = append(missed, op.OperationID+" ("+method+" "+path+")")
			}
		}
	}
	slices.Sort(missed)
	if len(missed) > 0 {
		t.Errorf("the tour did not call %d documented operations:\n%s", len(missed), strings.Join(missed, "\n"))
	}
	if n := s.api.checked.Load(); n < 40 {
		t.Errorf("the checker saw %d exchanges, want at least the tour's 40", n)
	}
}

// openEvents opens the shopper's order event stream through the shop's
// client, checks that it starts with the retry delay, and closes it.
func (sh *shopper) openEvents() {
	t := sh.s.t
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", sh.s.sys.URLs[app.Gateway]+"/api/v1/orders/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+sh.token)
	resp, err := sh.s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if resp.StatusCode != 200 || first != "retry: 3000\n" {
		t.Errorf("order events: %d starting %q, want 200 starting with the retry delay", resp.StatusCode, first)
	}
}
