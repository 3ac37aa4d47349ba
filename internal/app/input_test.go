package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"streamcart/internal/app"
	"streamcart/internal/platform/testenv"
)

// hostileQueries are queries no route takes.
// (A query of 100 KB is refused by the HTTP server itself, 431, before
// any handler: the limit on headers.)
var hostileQueries = []string{"q=%00", "q=%FF", "q=%C3%28", "limit=%00", "x=%0A", "q=" + strings.Repeat("x", 10<<10), "q=" + strings.Repeat("x", 100<<10), "q=a;b", "q=%zz"}

// refusedCleanly checks an answer to hostile input: a 4xx (never a 5xx)
// whose error message leaks nothing.
func refusedCleanly(t *testing.T, what string, status int, body []byte) {
	t.Helper()
	if status < 400 || status >= 500 {
		t.Errorf("%s: status %d %.200s, want a 4xx", what, status, body)
	}
	if l := testenv.LeakInBody(body); l != "" {
		t.Errorf("%s: body %.300s leaks %s", what, body, l)
	}
}

func TestHostileInputGets4xxWithACleanMessageOnEveryPublicRoute(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	sh := s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", "192.0.2.60")
	p := s.catalog(1)[0]
	order := `{"items":[{"productId":"` + p.ID + `","qty":1}]}`
	tutorialOrder := `{"products":[{"productId":"` + p.ID + `","qty":1,"productPrice":1.00}]}`
	routes := []struct {
		method, path, body string
		personal           bool
	}{
		{"GET", "/api/v1/session", "", true},
		{"GET", "/api/v1/products", "", false},
		{"GET", "/api/v1/products/" + p.ID, "", false},
		{"GET", "/api/v1/products/" + p.ID + "/image.svg", "", false},
		{"GET", "/products/" + p.ID + "/image.svg", "", false},
		{"GET", "/api/v1/categories", "", false},
		{"POST", "/api/v1/orders", order, true},
		{"GET", "/api/v1/orders", "", true},
		{"GET", "/api/v1/orders/0193a1e2-7c4f-7d2a-9b1e-2f6c8d9e0a1b", "", true},
		{"GET", "/api/v1/cart", "", true},
		{"PUT", "/api/v1/cart/items/" + p.ID, `{"qty":1}`, true},
		{"DELETE", "/api/v1/cart/items/" + p.ID, "", true},
		{"DELETE", "/api/v1/cart", "", true},
		{"POST", "/api/v1/cart/checkout", "", true},
		{"POST", "/products/getProductsByFilter", `{"productDisplayName":"puma"}`, true},
		{"POST", "/orders/createOrder", tutorialOrder, true},
		{"GET", "/orderHistory/viewOrderHistory", "", true},
		{"GET", "/healthz", "", false},
	}
	// Hostile requests go around the API document's checker: the
	// document describes routes, not every malformed URL.
	client := &http.Client{Timeout: 30 * time.Second}
	hostile := func(method, path, body string, header ...string) (int, []byte) {
		t.Helper()
		h := http.Header{"Authorization": {"Bearer " + sh.token}, "X-Forwarded-For": {sh.ip}, "Content-Type": {"application/json"}}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		var b any
		if body != "" {
			b = body
		}
		resp, got := testenv.Do(t, client, testenv.Request{Method: method, URL: s.sys.URLs[app.Gateway] + path, Body: b, Header: h})
		return resp.StatusCode, got
	}
	for _, rt := range routes {
		for _, q := range hostileQueries {
			status, got := hostile(rt.method, rt.path+"?"+q, rt.body)
			refusedCleanly(t, rt.method+" "+rt.path+"?"+q[:min(len(q), 12)], status, got)
		}
		for _, suffix := range []string{"%00", "%FF"} {
			status, got := hostile(rt.method, rt.path+suffix, rt.body)
			refusedCleanly(t, rt.method+" "+rt.path+suffix, status, got)
		}
		if rt.body == "" {
			continue
		}
		tutorial := !strings.HasPrefix(rt.path, "/api/")
		bodies := map[string]string{
			"a NUL":         strings.Replace(rt.body, p.ID, `p\u0000`, 1),
			"a NUL name":    `{"productDisplayName":"\u0000"}`,
			"invalid UTF-8": strings.Replace(rt.body, p.ID, "p\xff", 1) + "\xff",
			"trailing data": rt.body + "GARBAGE",
			"100 KB":        `{"productDisplayName":"` + strings.Repeat("x", 100<<10) + `","items":[],"qty":1,"products":[]}`,
		}
		for name, b := range bodies {
			if b == rt.body {
				continue // nothing to replace in this route's body
			}
			status, got := hostile(rt.method, rt.path, b)
			refusedCleanly(t, rt.method+" "+rt.path+" with "+name, status, got)
		}
		if !tutorial {
			for _, ct := range []string{"application/jsonx", "text/plain", "application/x-www-form-urlencoded"} {
				status, got := hostile(rt.method, rt.path, rt.body, "Content-Type", ct)
				refusedCleanly(t, rt.method+" "+rt.path+" as "+ct, status, got)
				if status != http.StatusUnsupportedMediaType {
					t.Errorf("%s %s as %s: %d, want 415", rt.method, rt.path, ct, status)
				}
			}
		}
	}

	// The headers, on answers to good requests.
	for _, rt := range routes {
		h := http.Header{"Authorization": {"Bearer " + sh.token}, "X-Forwarded-For": {sh.ip}}
		var body any
		if rt.body != "" {
			body = rt.body
		}
		resp, _ := testenv.Do(t, s.client, testenv.Request{Method: rt.method, URL: s.sys.URLs[app.Gateway] + rt.path, Body: body, Header: h})
		if got := resp.Header.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff once", rt.method, rt.path, got)
		}
		if got := resp.Header.Get("Cache-Control"); rt.personal && got != "no-store" {
			t.Errorf("%s %s: Cache-Control %q, want no-store on personal data", rt.method, rt.path, got)
		}
	}
}

func TestHostileInputGets400WithACleanMessageOnEveryService(t *testing.T) {
	t.Parallel()
	s := startGatewayShop(t)
	client := &http.Client{Timeout: 30 * time.Second}
	for _, name := range app.Services {
		base := s.sys.URLs[name]
		for _, target := range []string{"/healthz?q=%00", "/healthz?q=%FF", "/healthz?q=" + strings.Repeat("x", 10<<10), "/x%00", "/x%FF"} {
			resp, body := testenv.Do(t, client, testenv.Request{Method: "GET", URL: base + target})
			what := name + " GET " + target[:min(len(target), 20)]
			refusedCleanly(t, what, resp.StatusCode, body)
			if resp.StatusCode != 400 {
				t.Errorf("%s: %s, want 400", what, resp.Status)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: no X-Content-Type-Options: nosniff", what)
			}
		}
	}
}
