package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"streamcart/internal/platform/testenv"
)

// gatewayRoute is a route of the gateway as a test calls it.
type gatewayRoute struct {
	method, path string
	body         string // "" for none
}

// allRoutes are the gateway's routes with a valid request each; every
// one is tried with hostile input.
var allRoutes = []gatewayRoute{
	{"GET", "/api/v1/session", ""},
	{"GET", "/api/v1/products", ""},
	{"GET", "/api/v1/products/p1", ""},
	{"GET", "/api/v1/products/p1/image.svg", ""},
	{"GET", "/products/p1/image.svg", ""},
	{"GET", "/api/v1/categories", ""},
	{"POST", "/api/v1/orders", `{"items":[{"productId":"p1","qty":1}]}`},
	{"GET", "/api/v1/orders", ""},
	{"GET", "/api/v1/orders/o1", ""},
	{"GET", "/api/v1/cart", ""},
	{"PUT", "/api/v1/cart/items/p1", `{"qty":1}`},
	{"DELETE", "/api/v1/cart/items/p1", ""},
	{"DELETE", "/api/v1/cart", ""},
	{"POST", "/api/v1/cart/checkout", ""},
	{"POST", "/products/getProductsByFilter", `{"productDisplayName":"puma"}`},
	{"POST", "/orders/createOrder", `{"products":[{"productId":"p1","qty":1,"productPrice":39.99}]}`},
	{"GET", "/orderHistory/viewOrderHistory", ""},
	{"GET", "/api/v1/nothing", ""},
	{"GET", "/healthz", ""},
}

// wantCleanRefusal checks that an answer to hostile input is a 4xx whose
// error message leaks nothing.
func wantCleanRefusal(t *testing.T, what string, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("%s: %s %.300s, want a 4xx", what, resp.Status, body)
	}
	if l := testenv.LeakInBody(body); l != "" {
		t.Errorf("%s: body %.300s leaks %s", what, body, l)
	}
	var eb struct {
		Error *struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error == nil || eb.Error.Message == "" {
		t.Errorf("%s: body %.300s has no error message", what, body)
	}
}

func TestHostileQueriesGet400WithACleanMessageOnEveryRouteAndNoSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	for _, rt := range allRoutes {
		for _, q := range []string{"q=%00", "q=%FF", "q=%C3", "limit=%00", "q=" + strings.Repeat("x", 100<<10), "q=a;b", "q=%zz"} {
			var body any
			if rt.body != "" {
				body = rt.body
			}
			what := rt.method + " " + rt.path + "?" + q[:min(len(q), 12)]
			resp, got := e.do(req{method: rt.method, path: rt.path + "?" + q, token: token, body: body})
			wantCleanRefusal(t, what, resp, got)
			if resp.StatusCode != 400 {
				t.Errorf("%s: %s, want 400", what, resp.Status)
			}
			if c := resp.Cookies(); len(c) > 0 {
				t.Errorf("%s: set cookie %v; a refused request must not start a session", what, c)
			}
		}
		for _, p := range []string{"/%00", "/%FF"} {
			resp, got := e.do(req{method: rt.method, path: rt.path + p, token: token})
			wantCleanRefusal(t, rt.method+" "+rt.path+p, resp, got)
		}
	}
}

func TestHostileBodiesGet4xxWithACleanMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	json := http.Header{"Content-Type": {"application/json"}}
	for _, rt := range allRoutes {
		if rt.body == "" || strings.HasPrefix(rt.path, "/api/v1/orders") {
			continue // no body, or the orders service reads it (internal/app tests it)
		}
		tutorial := isTutorialPath(rt.path)
		bodies := map[string]struct {
			body   string
			header http.Header
		}{
			"NUL in a string": {`{"productDisplayName":"a\u0000","products":[{"productId":"p\u0000"}]}`, json},
			"invalid UTF-8":   {strings.Replace(rt.body, `"p1"`, "\"p\xff\"", 1) + "\xff", json},
			"trailing data":   {rt.body + "GARBAGE", json},
			"two values":      {rt.body + rt.body, json},
			"100 KB":          {`{"productDisplayName":"` + strings.Repeat("x", 100<<10) + `"}`, json},
			"long name":       {`{"productDisplayName":"` + strings.Repeat("x", 1000) + `"}`, json},
			"control char":    {`{"productDisplayName":"a\nb"}`, json},
		}
		if !tutorial {
			bodies["jsonx"] = struct {
				body   string
				header http.Header
			}{rt.body, http.Header{"Content-Type": {"application/jsonx"}}}
			bodies["text/plain"] = struct {
				body   string
				header http.Header
			}{rt.body, http.Header{"Content-Type": {"text/plain"}}}
		}
		for name, b := range bodies {
			if !tutorial && (name == "long name" || name == "control char") {
				continue
			}
			before := len(e.fakes.madeOrders())
			resp, got := e.do(req{method: rt.method, path: rt.path, token: token, body: b.body, header: b.header})
			wantCleanRefusal(t, rt.method+" "+rt.path+" with "+name, resp, got)
			if n := len(e.fakes.madeOrders()); n != before {
				t.Errorf("%s %s with %s placed an order", rt.method, rt.path, name)
			}
		}
		if !tutorial {
			resp, got := e.doWithoutContentType(rt.method, rt.path, token, rt.body)
			wantCleanRefusal(t, rt.method+" "+rt.path+" without a Content-Type", resp, got)
		}
	}
}

// doWithoutContentType sends body with no Content-Type header.
func (e *env) doWithoutContentType(method, path, token, body string) (*http.Response, []byte) {
	e.t.Helper()
	return e.do(req{method: method, path: path, token: token, body: body, header: testenv.Header("Content-Type", "")})
}

func TestEveryResponseIsNoSniffAndPersonalOnesAreNoStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	for _, rt := range allRoutes {
		for _, q := range []string{"", "?q=%00"} {
			var body any
			if rt.body != "" {
				body = rt.body
			}
			resp, _ := e.do(req{method: rt.method, path: rt.path + q, token: token, body: body})
			what := rt.method + " " + rt.path + q
			if got := resp.Header.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
				t.Errorf("%s: X-Content-Type-Options %q, want nosniff once", what, got)
			}
			personal := strings.HasPrefix(rt.path, "/api/v1/orders") || strings.HasPrefix(rt.path, "/api/v1/cart") ||
				rt.path == "/api/v1/session" || isTutorialPath(rt.path)
			if got := resp.Header.Get("Cache-Control"); personal && got != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store on personal data", what, got)
			}
		}
	}
}
