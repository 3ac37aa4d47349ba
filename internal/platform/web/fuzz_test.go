package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The fuzz targets check properties of every input, not answers: a
// decoder or parser never panics, fails only with an *errs.Error of a 4xx
// kind whose message leaks nothing (wantClientError), and what it accepts
// survives a round trip. Seeds are in testdata/fuzz/<FuzzName>.

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a","qty":2,"tags":["x"]}`, `{"name":"\u0000"}`, "{\"name\":\"\xff\"}", `{} x`, ``, `[1]`} {
		f.Add([]byte(s), "application/json", false)
	}
	f.Add([]byte(`{"qty":1.5}`), "", true)
	f.Fuzz(func(t *testing.T, body []byte, ctype string, lenient bool) {
		type doc struct {
			Name string         `json:"name"`
			Qty  int            `json:"qty"`
			Tags []string       `json:"tags"`
			Any  any            `json:"any"`
			Map  map[string]int `json:"map"`
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", ctype)
		rules := JSONRules{MaxBytes: 4 << 10}
		if lenient {
			rules = JSONRules{MaxBytes: 4 << 10, AnyContentType: true, EmptyOK: true, UnknownFields: true, UseNumber: true}
		}
		var got doc
		err := DecodeJSONBody(r, rules, &got)
		if err != nil {
			wantClientError(t, strconv.Quote(string(body)), err)
			return
		}
		// Accepted: it was text, and it encodes and decodes to the same.
		b, merr := json.Marshal(got)
		if merr != nil {
			t.Fatalf("accepted %q but cannot encode %+v: %v", body, got, merr)
		}
		again := httptest.NewRequest("POST", "/", strings.NewReader(string(b)))
		again.Header.Set("Content-Type", "application/json")
		var back doc
		if err := DecodeJSONBody(again, JSONRules{MaxBytes: 1 << 20, UseNumber: rules.UseNumber}, &back); err != nil {
			t.Fatalf("accepted %q; its re-encoding %s is refused: %v", body, b, err)
		}
		if !reflect.DeepEqual(normalJSON(t, got), normalJSON(t, back)) {
			t.Fatalf("accepted %q as %+v; it comes back as %+v", body, got, back)
		}
	})
}

// normalJSON is v as generic JSON, to compare two decodings.
func normalJSON(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func FuzzIntQuery(f *testing.F) {
	for _, s := range []string{"limit=5", "limit=", "limit=-1", "limit=1e2", "limit=%00", "limit=99999999999999999999", "limit=+7", "limit=07"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := &http.Request{URL: &url.URL{Path: "/", RawQuery: raw}}
		n, err := IntQuery(r, "limit", 50, 1, 100)
		if err != nil {
			wantClientError(t, strconv.Quote(raw), err)
			return
		}
		if n < 1 || n > 100 {
			t.Fatalf("?%s: %d is out of 1..100", raw, n)
		}
		if r.URL.Query().Get("limit") == "" {
			if n != 50 {
				t.Fatalf("?%s: %d, want the default 50", raw, n)
			}
			return
		}
		back := &http.Request{URL: &url.URL{Path: "/", RawQuery: "limit=" + strconv.Itoa(n)}}
		if m, err := IntQuery(back, "limit", 50, 1, 100); err != nil || m != n {
			t.Fatalf("?%s gave %d; ?limit=%d gives %d, %v", raw, n, n, m, err)
		}
	})
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range [][2]string{
		{"/products", "q=puma&limit=3"}, {"/products", "q=%00"}, {"/products", "q=%FF"}, {"/x", "a;b"},
		{"/x", "%zz"}, {"/x/\x00", ""}, {"/é", "q=%C3%A9"}, {"/x", "q=" + strings.Repeat("a", 2000)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		r := &http.Request{URL: &url.URL{Path: path, RawQuery: rawQuery}}
		if err := CheckURL(r); err != nil {
			wantClientError(t, strconv.Quote(path+"?"+rawQuery), err)
			return
		}
		// Accepted: the query parses, and every name and value is text
		// within the limits.
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatalf("accepted ?%q, which does not parse: %v", rawQuery, err)
		}
		if badText(path) != "" || len(path) > MaxPathLen {
			t.Fatalf("accepted path %q", path)
		}
		for k, vs := range q {
			for _, v := range append(vs, k) {
				if badText(v) != "" || len(v) > MaxQueryValueLen {
					t.Fatalf("accepted ?%q with %q", rawQuery, v)
				}
			}
		}
		// And it survives encoding again.
		if err := CheckURL(&http.Request{URL: &url.URL{Path: path, RawQuery: q.Encode()}}); err != nil && len(q) <= MaxQueryParams {
			t.Fatalf("accepted ?%q; its encoding %q is refused: %v", rawQuery, q.Encode(), err)
		}
	})
}
