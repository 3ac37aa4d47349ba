package orders_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
)

func TestHostileInputIsRefusedWithACleanMessageAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, 1)
	good := `{"items":[{"productId":"` + ps[0].ID + `","qty":1}]}`
	tests := []struct {
		name, method, target, body, ctype, key string
		wantStatus                             int
	}{
		{"NUL in a product id", "POST", "/orders", `{"items":[{"productId":"p\u0000","qty":1}]}`, "application/json", "", 400},
		{"invalid UTF-8", "POST", "/orders", "{\"items\":[{\"productId\":\"\xff\",\"qty\":1}]}", "application/json", "", 400},
		{"trailing data", "POST", "/orders", good + "GARBAGE", "application/json", "", 400},
		{"no Content-Type", "POST", "/orders", good, "", "", 415},
		{"application/jsonx", "POST", "/orders", good, "application/jsonx", "", 415},
		{"a number too large", "POST", "/orders", `{"items":[{"productId":"p","qty":1e999}]}`, "application/json", "", 400},
		{"100 KB", "POST", "/orders", `{"items":[{"productId":"` + strings.Repeat("x", 100<<10) + `","qty":1}]}`, "application/json", "", 413},
		{"an Idempotency-Key that is not UTF-8", "POST", "/orders", good, "application/json", "k\xff", 400},
		{"an Idempotency-Key with a tab", "POST", "/orders", good, "application/json", "k\tk", 400},
		{"NUL in the query", "GET", "/orders?limit=%00", "", "", "", 400},
		{"invalid UTF-8 in the query", "GET", "/orders?x=%FF", "", "", "", 400},
		{"NUL in the path", "GET", "/orders/%00", "", "", "", 400},
	}
	for _, tt := range tests {
		req, err := http.NewRequestWithContext(t.Context(), tt.method, e.api.URL+tt.target, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		if tt.key != "" {
			req.Header.Set("Idempotency-Key", tt.key)
		}
		req.Header.Set(auth.Header, e.signer.Sign(identity("u-hostile")))
		resp, err := e.api.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s: %s %s, want %d", tt.name, resp.Status, body, tt.wantStatus)
		}
		if l := testenv.LeakInBody(body); l != "" {
			t.Errorf("%s: error body %s leaks %s", tt.name, body, l)
		}
	}
	e.nothingStored(t, "u-hostile")
}
