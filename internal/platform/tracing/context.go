package tracing

import (
	"context"
	"encoding/hex"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// propagator is the W3C trace context: the traceparent (and tracestate)
// header.
var propagator = propagation.TraceContext{}

// traceParentKey is the header, and the stream envelope's field, that
// carries a span context.
const traceParentKey = "traceparent"

// TraceParent returns the W3C traceparent of the span in ctx, e.g.
// "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", or "" when
// ctx holds no valid span context.
func TraceParent(ctx context.Context) string {
	return formatParent(trace.SpanContextFromContext(ctx))
}

// formatParent returns the traceparent of sc, "" when it is not valid:
// what the W3C propagator writes, in one allocation.
func formatParent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))})
	return string(b[:])
}

// Parent returns the span context that the W3C traceparent s names, as a
// remote one; it is not valid when s is empty or malformed. It reads s as
// the W3C propagator does (lower-case hex; version 00 exactly, with no
// reserved flag set; a later version may add fields after the flags;
// version ff, an all-zero trace or span id are invalid), without its
// allocations: it runs for every entry a consumer handles and every
// request a service serves.
func Parent(s string) trace.SpanContext {
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return trace.SpanContext{}
	}
	var version, flags [1]byte
	var tid trace.TraceID
	var sid trace.SpanID
	if !lowerHex(version[:], s[0:2]) || version[0] == 0xff ||
		!lowerHex(tid[:], s[3:35]) || !lowerHex(sid[:], s[36:52]) || !lowerHex(flags[:], s[53:55]) {
		return trace.SpanContext{}
	}
	switch {
	case len(s) > 55 && s[55] != '-':
		return trace.SpanContext{}
	case version[0] == 0 && (len(s) > 56 || flags[0] > 3): // "-" alone may end it, as the propagator reads it
		return trace.SpanContext{}
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, Remote: true,
		TraceFlags: trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom),
	})
	if !sc.IsValid() { // an all-zero id
		return trace.SpanContext{}
	}
	return sc
}

// lowerHex decodes the lower-case hex s into dst, which is half as long,
// and reports whether it could.
func lowerHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := nibble(s[2*i])
		lo, ok2 := nibble(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func nibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// Unsampled reports whether sc is a valid span context of a trace that is
// not kept. Every seam starts no span under it, as a parent-based sampler
// would record nothing there anyway, and passes it on as it is, so that
// the services and streams after it follow the same decision at almost no
// cost: with the default of one trace in ten kept, that is most of them.
func Unsampled(sc trace.SpanContext) bool { return sc.IsValid() && !sc.IsSampled() }

// headerParent returns the span context of h's traceparent header, as a
// remote one (not valid when there is none). A tracestate is not read:
// the services neither use nor pass one on.
func headerParent(h map[string][]string) trace.SpanContext {
	if v := h["Traceparent"]; len(v) > 0 {
		return Parent(v[0])
	}
	return trace.SpanContext{}
}
