package cart

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
)

// FuzzPutItem checks the cart's one request body on any product id and
// body: parsePut never panics, refuses only with a 4xx *errs.Error whose
// message leaks nothing, and what it takes reads back the same from its
// own encoding. Seeds are in testdata/fuzz/FuzzPutItem.
func FuzzPutItem(f *testing.F) {
	for _, s := range [][2]string{{"p-00001", `{"qty":2}`}, {"p-00001", `{"qty":0}`}, {"p 1", `{"qty":1}`}, {"p1", `{"qty":100}`},
		{"p1", `{"qty":"\u0000"}`}, {"p1", `{"qty":1}x`}, {"p1", `{}`}, {"p1", `{"qty":1.0}`}} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		parse := func(id, body string) (string, int, error) {
			r := httptest.NewRequest("PUT", "/api/v1/cart/items/x", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.SetPathValue("productId", id)
			return parsePut(r)
		}
		gotID, qty, err := parse(id, string(body))
		if err != nil {
			servicetest.WantClientError(t, fmt.Sprintf("%q %q", id, body), err)
			return
		}
		if gotID != id || !web.ValidID(id) || qty < 0 || qty > MaxQty {
			t.Fatalf("%q %q: accepted as %q qty %d", id, body, gotID, qty)
		}
		if backID, back, err := parse(id, fmt.Sprintf(`{"qty":%d}`, qty)); err != nil || backID != id || back != qty {
			t.Fatalf("%q %q: qty %d reads back as %d, %v", id, body, qty, back, err)
		}
	})
}
