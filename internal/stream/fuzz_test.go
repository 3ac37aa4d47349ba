package stream

import (
	"errors"
	"testing"
)

// FuzzDecodeEvent checks the reading of an entry's fields into an Event,
// on any fields a writer to Redis can append: it never panics, fails only
// with ErrMalformed, and an event it reads is written (values) and read
// back the same. Seeds are in testdata/fuzz/FuzzDecodeEvent.
func FuzzDecodeEvent(f *testing.F) {
	f.Add("0194f1c2-7a3b-7c4d-8e5f-0123456789ab", "OrderPlaced", "1", "2025-01-02T03:04:05.123456789Z", "orderId", "o-1", true)
	f.Add("e1", "OrderPlaced", "99", "2025-01-02T03:04:05Z", "amountCents", "-1", true)
	f.Add("", "T", "x", "yesterday", "", "", false)
	f.Add("e1", "T", "0", "2025-01-02T03:04:05+02:00", "eventId", "other", true)
	f.Fuzz(func(t *testing.T, id, typ, version, at, key, value string, withKey bool) {
		fields := map[string]any{FieldEventID: id, FieldEventType: typ, FieldEventVersion: version, FieldEventTime: at}
		if withKey {
			fields[key] = value
		}
		e, err := decodeEvent(fields)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v: error %v does not wrap ErrMalformed", fields, err)
			}
			return
		}
		if e.ID == "" || e.Type == "" || e.Version < 1 {
			t.Fatalf("%v: read as %+v", fields, e)
		}
		vals, err := e.values()
		if err != nil {
			return // a payload field with a reserved name: Publish refuses it too
		}
		again := map[string]any{}
		for i := 0; i+1 < len(vals); i += 2 {
			again[vals[i].(string)] = vals[i+1]
		}
		back, err := decodeEvent(again)
		if err != nil || back.ID != e.ID || back.Type != e.Type || back.Version != e.Version || !back.Time.Equal(e.Time) ||
			back.TraceParent != e.TraceParent || len(back.Fields) != len(e.Fields) {
			t.Fatalf("%v: read as %+v; written and read back as %+v, %v", fields, e, back, err)
		}
		for k, v := range e.Fields {
			if back.Fields[k] != v {
				t.Fatalf("%v: field %q is %q, read back %q", fields, k, v, back.Fields[k])
			}
		}
	})
}
