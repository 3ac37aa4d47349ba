package orders

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
)

// decodeCreate reads and checks a create-order body as POST /orders does.
func decodeCreate(body []byte) (CreateRequest, error) {
	r := httptest.NewRequest("POST", "/orders", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	var req CreateRequest
	if err := web.DecodeJSON(r, maxBody, &req); err != nil {
		return CreateRequest{}, err
	}
	return req, req.Validate()
}

// FuzzCreateRequest checks POST /orders's decoding and validation on any
// body (servicetest.FuzzDecoder): it never panics, refuses only with a 4xx
// *errs.Error whose message leaks nothing, and a request it takes reads
// back the same from its own encoding. Seeds are in
// testdata/fuzz/FuzzCreateRequest.
func FuzzCreateRequest(f *testing.F) {
	servicetest.FuzzDecoder(f, []string{
		`{"items":[{"productId":"p-00001","qty":2,"priceCents":3999}]}`,
		`{"items":[{"productId":"p-00001","qty":1},{"productId":"p-00001","qty":1}]}`,
		`{"items":[{"productId":"p\u0000","qty":1}]}`, `{"items":[]}`, `{"items":[{"productId":"p","qty":1e9}]}`, `{}x`,
	}, decodeCreate, func(CreateRequest) string { return "" }, func(req CreateRequest) ([]byte, error) { return json.Marshal(req) })
}
