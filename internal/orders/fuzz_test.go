package orders

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
)

// decodeCreate reads and checks a create-order body as POST /orders does.
func decodeCreate(body string) (CreateRequest, error) {
	r := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	var req CreateRequest
	if err := web.DecodeJSON(r, maxBody, &req); err != nil {
		return CreateRequest{}, err
	}
	return req, req.Validate()
}

// FuzzCreateRequest checks POST /orders's decoding and validation on any
// body: it never panics, refuses only with a 4xx *errs.Error whose message
// leaks nothing, and a request it takes reads back the same from its own
// encoding. Seeds are in testdata/fuzz/FuzzCreateRequest.
func FuzzCreateRequest(f *testing.F) {
	for _, s := range []string{
		`{"items":[{"productId":"p-00001","qty":2,"priceCents":3999}]}`,
		`{"items":[{"productId":"p-00001","qty":1},{"productId":"p-00001","qty":1}]}`,
		`{"items":[{"productId":"p\u0000","qty":1}]}`, `{"items":[]}`, `{"items":[{"productId":"p","qty":1e9}]}`, `{}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCreate(string(body))
		if err != nil {
			servicetest.WantClientError(t, strconv.Quote(string(body)), err)
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeCreate(string(b))
		if err != nil || !reflect.DeepEqual(back, req) {
			t.Fatalf("%s: accepted as %+v; its encoding %s reads back as %+v, %v", strconv.Quote(string(body)), req, b, back, err)
		}
	})
}
