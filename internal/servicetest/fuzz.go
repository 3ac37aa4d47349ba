package servicetest

import (
	"reflect"
	"strconv"
	"testing"
)

// FuzzDecoder fuzzes decode, a service's reading of a request body, from
// the seeds and the corpus in testdata/fuzz/<FuzzName>. For every body,
// decode must not panic and must refuse only with a client error
// (WantClientError); what it takes must be valid (valid says what is
// wrong with it, "" for nothing) and read back the same from its
// encoding by encode.
func FuzzDecoder[T any](f *testing.F, seeds []string, decode func(body []byte) (T, error), valid func(T) string, encode func(T) ([]byte, error)) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decode(body)
		if err != nil {
			WantClientError(t, strconv.Quote(string(body)), err)
			return
		}
		if bad := valid(v); bad != "" {
			t.Fatalf("accepted %q as %+v: %s", body, v, bad)
		}
		b, err := encode(v)
		if err != nil {
			t.Fatalf("accepted %q as %+v, which does not encode: %v", body, v, err)
		}
		back, err := decode(b)
		if err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("accepted %q as %+v; its encoding %s reads back as %+v, %v", body, v, b, back, err)
		}
	})
}
