package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
)

// The fuzz targets check properties of every input: the tutorial's
// decoders never panic, fail only with an *errs.Error of a 4xx kind whose
// message leaks nothing (servicetest.WantClientError), and what they
// accept survives a round trip.
// Seeds are in testdata/fuzz/<FuzzName>.

func FuzzTutorialCreateOrder(f *testing.F) {
	servicetest.FuzzDecoder(f, []string{
		`{"products":[{"productId":"p1","qty":2,"productPrice":39.99}]}`,
		`{"products":[{"productId":"p1","qty":1,"productPrice":39.99}]}GARBAGE`,
		`{"products":[{"productId":"p\u0000","qty":1,"productPrice":1}]}`,
		`{"products":[{"productId":"p1","qty":"1","productPrice":1e2}]}`, ``, `[]`,
	}, func(body []byte) ([]orderItem, error) {
		return parseCreateOrder(httptest.NewRequest("POST", tutorialCreateOrderPath, bytes.NewReader(body)), 1<<16)
	}, func(items []orderItem) string {
		for _, it := range items {
			if !web.ValidID(it.ProductID) || it.Qty < 1 || it.PriceCents < 1 {
				return fmt.Sprintf("the line %+v", it)
			}
		}
		return ""
	}, func(items []orderItem) ([]byte, error) {
		lines := make([]map[string]any, len(items))
		for i, it := range items {
			lines[i] = map[string]any{"productId": it.ProductID, "qty": it.Qty, "productPrice": units(it.PriceCents)}
		}
		return json.Marshal(map[string]any{"products": lines})
	})
}

func FuzzTutorialProductFilter(f *testing.F) {
	servicetest.FuzzDecoder(f, []string{
		`{"productDisplayName":" puma "}`, ``, `{"productDisplayName":"\u0000"}`, `{"productDisplayName":1}`, `{} {}`,
	}, func(body []byte) (string, error) {
		return parseProductFilter(httptest.NewRequest("POST", tutorialProductsPath, bytes.NewReader(body)), 1<<16)
	}, func(name string) string {
		if name != strings.TrimSpace(name) || len(name) > tutorialMaxNameLen || web.CheckText("q", name, tutorialMaxNameLen) != nil {
			return "not a trimmed name of text within the length"
		}
		return ""
	}, func(name string) ([]byte, error) {
		return json.Marshal(map[string]string{"productDisplayName": name})
	})
}

func FuzzParseUnitsAndQty(f *testing.F) {
	for _, s := range []string{"39.99", "15", "15.0", "39.999", "-1", "0", "1e2", "99", "100", "007", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, number string) {
		if cents, err := parseUnits("price", json.Number(number)); err != nil {
			servicetest.WantClientError(t, "price "+strconv.Quote(number), err)
		} else if back, err := parseUnits("price", units(cents)); cents < 1 || err != nil || back != cents {
			t.Fatalf("price %q: %d cents, written %s, read back %d, %v", number, cents, units(cents), back, err)
		}
		if qty, err := parseQty("qty", json.Number(number)); err != nil {
			servicetest.WantClientError(t, "qty "+strconv.Quote(number), err)
		} else if back, err := parseQty("qty", json.Number(strconv.Itoa(qty))); err != nil || back != qty {
			t.Fatalf("qty %q: %d, read back %d, %v", number, qty, back, err)
		}
	})
}
