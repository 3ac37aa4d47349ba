package gateway

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

// The fuzz targets check properties of every input: the tutorial's
// decoders never panic, fail only with an *errs.Error of a 4xx kind whose
// message leaks nothing (servicetest.WantClientError), and what they
// accept survives a round trip.
// Seeds are in testdata/fuzz/<FuzzName>.

func FuzzTutorialCreateOrder(f *testing.F) {
	for _, s := range []string{
		`{"products":[{"productId":"p1","qty":2,"productPrice":39.99}]}`,
		`{"products":[{"productId":"p1","qty":1,"productPrice":39.99}]}GARBAGE`,
		`{"products":[{"productId":"p\u0000","qty":1,"productPrice":1}]}`,
		`{"products":[{"productId":"p1","qty":"1","productPrice":1e2}]}`, ``, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := parseCreateOrder(httptest.NewRequest("POST", tutorialCreateOrderPath, strings.NewReader(string(body))), 1<<16)
		if err != nil {
			servicetest.WantClientError(t, strconv.Quote(string(body)), err)
			return
		}
		lines := make([]map[string]any, len(items))
		for i, it := range items {
			if !web.ValidID(it.ProductID) || it.Qty < 1 || it.PriceCents < 1 {
				t.Fatalf("accepted %q with the line %+v", body, it)
			}
			lines[i] = map[string]any{"productId": it.ProductID, "qty": it.Qty, "productPrice": units(it.PriceCents)}
		}
		b, _ := json.Marshal(map[string]any{"products": lines})
		back, err := parseCreateOrder(httptest.NewRequest("POST", tutorialCreateOrderPath, strings.NewReader(string(b))), 1<<16)
		if err != nil || !reflect.DeepEqual(back, items) {
			t.Fatalf("accepted %q as %+v; its re-encoding %s gives %+v, %v", body, items, b, back, err)
		}
	})
}

func FuzzTutorialProductFilter(f *testing.F) {
	for _, s := range []string{`{"productDisplayName":" puma "}`, ``, `{"productDisplayName":"\u0000"}`, `{"productDisplayName":1}`, `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		name, err := parseProductFilter(httptest.NewRequest("POST", tutorialProductsPath, strings.NewReader(string(body))), 1<<16)
		if err != nil {
			servicetest.WantClientError(t, strconv.Quote(string(body)), err)
			return
		}
		if name != strings.TrimSpace(name) || len(name) > tutorialMaxNameLen || web.CheckText("q", name, tutorialMaxNameLen) != nil {
			t.Fatalf("accepted %q with the name %q", body, name)
		}
		b, _ := json.Marshal(map[string]string{"productDisplayName": name})
		back, err := parseProductFilter(httptest.NewRequest("POST", tutorialProductsPath, strings.NewReader(string(b))), 1<<16)
		if err != nil || back != name {
			t.Fatalf("accepted %q as %q; its re-encoding gives %q, %v", body, name, back, err)
		}
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
