package products_test

import (
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
	"streamcart/internal/products"
	"streamcart/internal/servicetest"
)

// signer signs the identities of the tests' requests.
var signer = servicetest.Signer()

// newServer serves f's service over HTTP until t ends.
func newServer(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(products.NewHandler(f.svc, signer))
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request and returns the response with its body read. Unless
// header (name, value pairs) sets auth.Header, the request carries the
// identity of an operator for a PATCH, else of an anonymous reader, as the
// gateway signs them.
func do(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	caller := auth.Identity{Role: auth.RoleReader}
	if method == http.MethodPatch {
		caller = auth.Identity{Role: auth.RoleOperator, UserID: "ops-test"}
	}
	h := servicetest.As(caller)
	maps.Copy(h, testenv.Header(header...))
	rq := testenv.Request{Method: method, URL: srv.URL + path, Header: h}
	if body != "" {
		rq.Body = body
	}
	return testenv.Do(t, srv.Client(), rq)
}

func TestHTTPStatusAndErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	srv := newServer(t, f)
	big := `{"ids":["` + strings.Repeat("x", 70<<10) + `"]}`
	tests := []struct {
		method, path, body string
		wantStatus         int
		wantCode           string // error code; "" for a success
	}{
		{"GET", "/products", "", 200, ""},
		{"GET", "/products?q=puma&category=Footwear&limit=5&offset=1", "", 200, ""},
		{"GET", "/products?limit=0", "", 400, "invalid_limit"},
		{"GET", "/products?limit=101", "", 400, "invalid_limit"},
		{"GET", "/products?limit=ten", "", 400, "invalid_limit"},
		{"GET", "/products?offset=-1", "", 400, "invalid_offset"},
		{"GET", "/products?offset=99999999999999999999", "", 400, "invalid_offset"},
		{"GET", "/products/p-00001", "", 200, ""},
		{"GET", "/products/p-99999", "", 404, "not_found"},
		{"GET", "/products/p-99999/image.svg", "", 404, "not_found"},
		{"POST", "/products/lookup", `{"ids":["p-00002","p-00001"]}`, 200, ""},
		{"POST", "/products/lookup", `{"ids":["p-00002"`, 400, "invalid_json"},
		{"POST", "/products/lookup", `not json`, 400, "invalid_json"},
		{"POST", "/products/lookup", `{"ids":["p-00001"],"extra":1}`, 400, "unknown_field"},
		{"POST", "/products/lookup", `{"ids":"p-00001"}`, 400, "invalid_field"},
		{"POST", "/products/lookup", `{"ids":[]}`, 400, "invalid_request"},
		{"POST", "/products/lookup", `{}`, 400, "invalid_request"},
		{"POST", "/products/lookup", big, 413, "body_too_large"},
		{"PATCH", "/products/p-00003", `{"priceCents":2599}`, 200, ""},
		{"PATCH", "/products/p-00003", `{"priceCents":0}`, 400, "invalid_request"},
		{"PATCH", "/products/p-00003", `{"priceCents":19.99}`, 400, "invalid_field"},
		{"PATCH", "/products/p-00003", `{"price":1999}`, 400, "unknown_field"},
		{"PATCH", "/products/p-00003", `{}`, 400, "invalid_request"},
		{"PATCH", "/products/p-99999", `{"active":false}`, 404, "not_found"},
		{"PATCH", "/products/p%2000001", `{"active":false}`, 404, "not_found"},
		{"GET", "/products/p%2000001", "", 404, "not_found"},
		{"GET", "/products/" + strings.Repeat("p", 65), "", 404, "not_found"},
		{"POST", "/products/lookup", `{"ids":["p-00001","p 00002"]}`, 400, "invalid_request"},
		{"GET", "/products?q=%00", "", 400, "invalid_query"},
		{"GET", "/products?q=%FF", "", 400, "invalid_query"},
		{"GET", "/products?category=Foot%00wear", "", 400, "invalid_query"},
		{"GET", "/products?q=" + strings.Repeat("x", 100<<10), "", 400, "invalid_query"},
		{"GET", "/products?q=" + strings.Repeat("x", 201), "", 400, "invalid_request"},
		{"GET", "/products/p-00001?x=%00", "", 400, "invalid_query"},
		{"GET", "/products/%FF", "", 400, "invalid_path"},
		{"PATCH", "/products/p-00003", `{"displayName":"a\u0000b"}`, 400, "invalid_text"},
		{"PATCH", "/products/p-00003", "{\"displayName\":\"a\xffb\"}", 400, "invalid_utf8"},
		{"PATCH", "/products/p-00003", `{"active":true}GARBAGE`, 400, "invalid_json"},
		{"POST", "/products/lookup", `{"ids":["p-00001\u0000"]}`, 400, "invalid_text"},
		{"GET", "/categories", "", 200, ""},
		{"GET", "/healthz", "", 200, ""},
		{"GET", "/readyz", "", 200, ""},
		{"DELETE", "/products/p-00001", "", 405, ""},
	}
	for _, tt := range tests {
		resp, body := do(t, srv, tt.method, tt.path, tt.body)
		name := tt.method + " " + tt.path
		if len(name) > 80 {
			name = name[:80] + "…"
		}
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s: status %d, want %d; body %s", name, resp.StatusCode, tt.wantStatus, body)
			continue
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", name)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", name)
		}
		if l := testenv.LeakInBody(body); resp.StatusCode >= 400 && l != "" {
			t.Errorf("%s: error body %s leaks %s", name, body, l)
		}
		if tt.wantCode == "" {
			continue
		}
		var e web.ErrorBody
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.wantCode || e.Error.Message == "" {
			t.Errorf("%s: error body %s (%v), want code %q and a message", name, body, err, tt.wantCode)
		}
	}
}

func TestHTTPProductJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	srv := newServer(t, f)
	resp, body := do(t, srv, "GET", "/products/p-00001", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}
	want := []string{"active", "ageGroup", "articleType", "brand", "currency", "description", "displayName", "gender",
		"id", "imageUrl", "masterCategory", "priceCents", "subCategory", "updatedAt", "variantName"}
	if diff := gocmp.Diff(want, slices.Sorted(maps.Keys(fields))); diff != "" {
		t.Errorf("product JSON fields (-want +got):\n%s", diff)
	}
	catalog := products.SampleCatalog()
	if fields["imageUrl"] != "/products/p-00001/image.svg" || fields["priceCents"] != float64(catalog[0].PriceCents) {
		t.Errorf("imageUrl, priceCents = %v, %v", fields["imageUrl"], fields["priceCents"])
	}
	if p, ok := fields["priceCents"].(float64); !ok || p != math.Trunc(p) {
		t.Errorf("priceCents %v is not integer cents: %s", fields["priceCents"], body)
	}

	// Search and lookup bodies.
	_, body = do(t, srv, "GET", "/products?q=PUMA&limit=2&offset=1", "")
	var page products.Page
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	wantIDs, wantTotal := expectSearch(products.Query{Q: "puma", Limit: 2, Offset: 1})
	if page.Total != wantTotal || page.Limit != 2 || page.Offset != 1 || !slices.Equal(ids(page.Products), wantIDs) {
		t.Errorf("GET /products?q=PUMA&limit=2&offset=1 = total %d limit %d offset %d ids %v; want %d 2 1 %v",
			page.Total, page.Limit, page.Offset, ids(page.Products), wantTotal, wantIDs)
	}
	_, body = do(t, srv, "GET", "/products?q=nothing+like+this", "")
	if !strings.Contains(string(body), `"products":[]`) {
		t.Errorf("empty search body %s, want \"products\":[]", body)
	}
	_, body = do(t, srv, "POST", "/products/lookup", `{"ids":["p-00002","nope","p-00001"]}`)
	var looked struct{ Products []products.Product }
	if err := json.Unmarshal(body, &looked); err != nil || !slices.Equal(ids(looked.Products), []string{"p-00002", "p-00001"}) {
		t.Errorf("lookup body %s (%v), want p-00002 then p-00001", body, err)
	}
	_, body = do(t, srv, "GET", "/categories", "")
	if !strings.Contains(string(body), `{"name":"Footwear","count":`) {
		t.Errorf("categories body %s lacks Footwear", body)
	}
}

func TestHTTPPatchIsVisibleAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	srv := newServer(t, f)
	do(t, srv, "GET", "/products/p-00007", "") // cache it
	resp, body := do(t, srv, "PATCH", "/products/p-00007", `{"priceCents":1234,"displayName":"Renamed <Thing>"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"priceCents":1234`) {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	_, body = do(t, srv, "POST", "/products/lookup", `{"ids":["p-00007"]}`)
	if !strings.Contains(string(body), `"priceCents":1234`) {
		t.Errorf("lookup after PATCH: %s, want the new price", body)
	}
	_, body = do(t, srv, "GET", "/products/p-00007/image.svg", "")
	if !strings.Contains(string(body), "Renamed &lt;Thing&gt;") {
		t.Errorf("image after PATCH lacks the escaped new name: %s", body)
	}
}

func TestHTTPImage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	srv := newServer(t, f)
	resp, body := do(t, srv, "GET", "/products/p-00001/image.svg", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	want := map[string]string{
		"Content-Type":           "image/svg+xml",
		"Cache-Control":          "public, max-age=86400",
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	etag := resp.Header.Get("ETag")
	if len(etag) < 10 || etag[0] != '"' {
		t.Errorf("ETag = %q, want a quoted strong tag", etag)
	}
	p, err := f.svc.Get(t.Context(), "p-00001")
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != string(products.Image(p)) {
		t.Errorf("body differs from Image(p-00001)")
	}

	resp, body = do(t, srv, "GET", "/products/p-00001/image.svg", "", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: status %d with %d bytes, want 304 and none", resp.StatusCode, len(body))
	}
	resp, _ = do(t, srv, "GET", "/products/p-00001/image.svg", "", "If-None-Match", `"other"`)
	if resp.StatusCode != 200 {
		t.Errorf("If-None-Match of another tag: status %d, want 200", resp.StatusCode)
	}
}

func TestHTTPReadyzWithoutRedis(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testenv.DeadRedis(t), true)
	srv := newServer(t, f)
	resp, body := do(t, srv, "GET", "/readyz", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "redis") {
		t.Errorf("/readyz with Redis down: %d %s, want 503 naming redis", resp.StatusCode, body)
	}
	// Reads still work.
	if resp, body := do(t, srv, "POST", "/products/lookup", `{"ids":["p-00001"]}`); resp.StatusCode != 200 {
		t.Errorf("lookup with Redis down: %d %s", resp.StatusCode, body)
	}
}

func TestHTTPPostgresOutageIsUnavailable(t *testing.T) {
	t.Parallel()
	svc, err := products.NewService(testenv.DeadPool(t), nil, products.Config{ProductKey: servicetest.ProductKey()}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(products.NewHandler(svc, signer))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/products", "/products/p-00001", "/categories"} {
		resp, body := do(t, srv, "GET", path, "")
		var e web.ErrorBody
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusServiceUnavailable ||
			e.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s with Postgres down: %d %s, Retry-After %q; want 503 unavailable with Retry-After",
				path, resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}
}

func TestHTTPCatalogWritesNeedAnOperatorAndReadsAnyCaller(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	srv := newServer(t, f)
	other, err := auth.NewSigner([]byte("another-secret-another-secret-another"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	shopper := signer.Sign(auth.Identity{Role: auth.RoleShopper, UserID: "u-1"})
	tests := []struct {
		name, method, path, identity string
		wantStatus                   int
		wantCode                     string
	}{
		{"write, no identity", "PATCH", "/products/p-00003", "", 401, "unauthenticated"},
		{"write, another secret", "PATCH", "/products/p-00003", other.Sign(auth.Identity{Role: auth.RoleOperator, UserID: "ops"}), 401, "unauthenticated"},
		{"write, shopper", "PATCH", "/products/p-00003", shopper, 403, "forbidden"},
		{"write, service", "PATCH", "/products/p-00003", signer.Sign(auth.Identity{Role: auth.RoleService, UserID: "orders"}), 403, "forbidden"},
		{"read, no identity", "GET", "/products/p-00003", "", 401, "unauthenticated"},
		{"read, shopper", "GET", "/products/p-00003", shopper, 200, ""},
		{"image, no identity", "GET", "/products/p-00003/image.svg", "", 401, "unauthenticated"},
		{"health, no identity", "GET", "/healthz", "", 200, ""},
	}
	for _, tt := range tests {
		resp, body := do(t, srv, tt.method, tt.path, `{"priceCents":1}`, auth.Header, tt.identity)
		var e web.ErrorBody
		if resp.StatusCode >= 400 {
			_ = json.Unmarshal(body, &e)
		}
		if resp.StatusCode != tt.wantStatus || e.Error.Code != tt.wantCode {
			t.Errorf("%s: %s %s: %d %s, want %d %q", tt.name, tt.method, tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantCode)
		}
	}
	if p, err := f.svc.Get(t.Context(), "p-00003"); err != nil || p.PriceCents == 1 {
		t.Errorf("after refused writes: %+v, %v; want the price unchanged", p, err)
	}
}
