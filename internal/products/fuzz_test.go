package products

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
)

// FuzzSearchQuery checks GET /products's query parsing on any query, as
// the service sees it behind web.CheckInput: it never panics, refuses only
// with an Invalid error whose message leaks nothing, and a query it takes
// reads back the same from its own encoding. Seeds are in
// testdata/fuzz/FuzzSearchQuery.
func FuzzSearchQuery(f *testing.F) {
	for _, s := range []string{"q=puma&limit=5", "q=%00", "q=%FF", "category=Footwear/Shoes&offset=10", "limit=101", "q=+++", "offset=-0", "q=%25_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := &http.Request{URL: &url.URL{Path: "/products", RawQuery: raw}}
		if err := web.CheckURL(r); err != nil {
			return // the service's middleware answers 400; web's fuzz target checks it
		}
		q, err := parseSearch(r)
		if err != nil {
			servicetest.WantClientError(t, "?"+raw, err)
			if k := errs.KindOf(err); k != errs.KindInvalid {
				t.Fatalf("?%s: error %v of kind %s, want Invalid", raw, err, k)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxLimit || q.Offset < 0 || q.Offset > MaxOffset || !isText(q.Q) || !isText(q.Category) {
			t.Fatalf("?%s: accepted as %+v", raw, q)
		}
		v := url.Values{"q": {q.Q}, "category": {q.Category}, "limit": {strconv.Itoa(q.Limit)}, "offset": {strconv.Itoa(q.Offset)}}
		back, err := parseSearch(&http.Request{URL: &url.URL{Path: "/products", RawQuery: v.Encode()}})
		if err != nil || back != q {
			t.Fatalf("?%s: %+v; its encoding %s reads back as %+v, %v", raw, q, v.Encode(), back, err)
		}
	})
}
