package tracing

import (
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The field numbers of the OTLP messages that an export writes, from
// opentelemetry-proto: collector/trace/v1/trace_service.proto,
// trace/v1/trace.proto, resource/v1/resource.proto and
// common/v1/common.proto. Fields this exporter never writes are left out.
const (
	// ExportTraceServiceRequest
	requestResourceSpans protowire.Number = 1

	// ResourceSpans
	resourceSpansResource   protowire.Number = 1
	resourceSpansScopeSpans protowire.Number = 2
	resourceSpansSchemaURL  protowire.Number = 3

	// Resource
	resourceAttributes protowire.Number = 1

	// ScopeSpans
	scopeSpansScope     protowire.Number = 1
	scopeSpansSpans     protowire.Number = 2
	scopeSpansSchemaURL protowire.Number = 3

	// InstrumentationScope
	scopeName       protowire.Number = 1
	scopeVersion    protowire.Number = 2
	scopeAttributes protowire.Number = 3

	// Span
	spanTraceID                protowire.Number = 1
	spanSpanID                 protowire.Number = 2
	spanTraceState             protowire.Number = 3
	spanParentSpanID           protowire.Number = 4
	spanName                   protowire.Number = 5
	spanKind                   protowire.Number = 6 // varint
	spanStartTime              protowire.Number = 7 // fixed64
	spanEndTime                protowire.Number = 8 // fixed64
	spanAttributes             protowire.Number = 9
	spanDroppedAttributesCount protowire.Number = 10 // varint
	spanEvents                 protowire.Number = 11
	spanDroppedEventsCount     protowire.Number = 12 // varint
	spanLinks                  protowire.Number = 13
	spanDroppedLinksCount      protowire.Number = 14 // varint
	spanStatus                 protowire.Number = 15
	spanFlags                  protowire.Number = 16 // fixed32

	// Span.Event
	eventTime                   protowire.Number = 1 // fixed64
	eventName                   protowire.Number = 2
	eventAttributes             protowire.Number = 3
	eventDroppedAttributesCount protowire.Number = 4 // varint

	// Span.Link
	linkTraceID                protowire.Number = 1
	linkSpanID                 protowire.Number = 2
	linkTraceState             protowire.Number = 3
	linkAttributes             protowire.Number = 4
	linkDroppedAttributesCount protowire.Number = 5 // varint
	linkFlags                  protowire.Number = 6 // fixed32

	// Status (field 1 is reserved)
	statusMessage protowire.Number = 2
	statusCode    protowire.Number = 3 // varint

	// KeyValue
	keyValueKey   protowire.Number = 1
	keyValueValue protowire.Number = 2

	// AnyValue, a oneof
	anyString protowire.Number = 1
	anyBool   protowire.Number = 2 // varint
	anyInt    protowire.Number = 3 // varint, int64 (not zigzag)
	anyDouble protowire.Number = 4 // fixed64
	anyArray  protowire.Number = 5 // ArrayValue
	anyKVList protowire.Number = 6 // KeyValueList
	anyBytes  protowire.Number = 7

	// ArrayValue and KeyValueList
	listValues protowire.Number = 1

	// ExportTraceServiceResponse, ExportTracePartialSuccess
	responsePartialSuccess protowire.Number = 1
	partialRejectedSpans   protowire.Number = 1 // varint
	partialErrorMessage    protowire.Number = 2
)

// The values of Status.StatusCode: not those of codes.Code, whose Error
// and Ok are the other way round.
const (
	statusCodeOK    = 1
	statusCodeError = 2
)

// The bits of Span.flags and Span.Link.flags above the W3C trace flags:
// whether the parent's (or the linked span's) context is remote is known,
// and it is.
const (
	flagsHasIsRemote = 0x100
	flagsIsRemote    = 0x200
)

// appendRequest appends spans to b as an ExportTraceServiceRequest, one
// ResourceSpans per resource and in it one ScopeSpans per scope, in the
// order in which each first appears.
func appendRequest(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	for _, res := range groupSpans(spans) {
		var start int
		b, start = beginMessage(b, requestResourceSpans)
		b = appendResource(b, res.resource)
		for _, sc := range res.scopes {
			var scStart int
			b, scStart = beginMessage(b, resourceSpansScopeSpans)
			b = appendScope(b, sc.scope)
			for _, s := range sc.spans {
				b = appendSpan(b, s)
			}
			b = appendString(b, scopeSpansSchemaURL, sc.scope.SchemaURL)
			b = endMessage(b, scStart)
		}
		b = appendString(b, resourceSpansSchemaURL, res.resource.SchemaURL())
		b = endMessage(b, start)
	}
	return b
}

type resourceGroup struct {
	key      attribute.Distinct
	resource *resource.Resource
	scopes   []scopeGroup
}

type scopeGroup struct {
	scope instrumentation.Scope
	spans []sdktrace.ReadOnlySpan
}

// groupSpans groups spans by resource, then by scope. A batch comes from
// one provider, so it has one resource and a few scopes: a linear search
// beats maps.
func groupSpans(spans []sdktrace.ReadOnlySpan) []resourceGroup {
	var groups []resourceGroup
	for _, s := range spans {
		res := s.Resource()
		key := res.Equivalent()
		i := 0
		for i < len(groups) && groups[i].key != key {
			i++
		}
		if i == len(groups) {
			groups = append(groups, resourceGroup{key: key, resource: res})
		}
		g := &groups[i]
		scope := s.InstrumentationScope()
		j := 0
		for j < len(g.scopes) && g.scopes[j].scope != scope {
			j++
		}
		if j == len(g.scopes) {
			g.scopes = append(g.scopes, scopeGroup{scope: scope})
		}
		g.scopes[j].spans = append(g.scopes[j].spans, s)
	}
	return groups
}

func appendResource(b []byte, res *resource.Resource) []byte {
	b, start := beginMessage(b, resourceSpansResource)
	b = appendIterator(b, resourceAttributes, res.Iter())
	return endMessage(b, start)
}

func appendScope(b []byte, scope instrumentation.Scope) []byte {
	b, start := beginMessage(b, scopeSpansScope)
	b = appendString(b, scopeName, scope.Name)
	b = appendString(b, scopeVersion, scope.Version)
	b = appendIterator(b, scopeAttributes, scope.Attributes.Iter())
	return endMessage(b, start)
}

func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	b, start := beginMessage(b, scopeSpansSpans)
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendBytes(b, spanTraceID, tid[:])
	b = appendBytes(b, spanSpanID, sid[:])
	b = appendString(b, spanTraceState, sc.TraceState().String())
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		b = appendBytes(b, spanParentSpanID, psid[:])
	}
	b = appendString(b, spanName, s.Name())
	b = appendVarint(b, spanKind, uint64(s.SpanKind())) // the same numbers as OTLP's SpanKind
	b = appendTime(b, spanStartTime, s.StartTime())
	b = appendTime(b, spanEndTime, s.EndTime())
	for _, kv := range s.Attributes() {
		b = appendKeyValue(b, spanAttributes, kv)
	}
	b = appendCount(b, spanDroppedAttributesCount, s.DroppedAttributes())
	for _, e := range s.Events() {
		b = appendEvent(b, e)
	}
	b = appendCount(b, spanDroppedEventsCount, s.DroppedEvents())
	for _, l := range s.Links() {
		b = appendLink(b, l)
	}
	b = appendCount(b, spanDroppedLinksCount, s.DroppedLinks())
	b = appendStatus(b, s.Status())
	b = protowire.AppendTag(b, spanFlags, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, flags(sc.TraceFlags(), parent))
	return endMessage(b, start)
}

// flags is a Span's or Link's flags: the W3C trace flags of the span, and
// whether the other span's context (the parent's, the linked one's) is
// remote.
func flags(tf trace.TraceFlags, other trace.SpanContext) uint32 {
	f := uint32(tf) | flagsHasIsRemote
	if other.IsRemote() {
		f |= flagsIsRemote
	}
	return f
}

func appendEvent(b []byte, e sdktrace.Event) []byte {
	b, start := beginMessage(b, spanEvents)
	b = appendTime(b, eventTime, e.Time)
	b = appendString(b, eventName, e.Name)
	for _, kv := range e.Attributes {
		b = appendKeyValue(b, eventAttributes, kv)
	}
	b = appendCount(b, eventDroppedAttributesCount, e.DroppedAttributeCount)
	return endMessage(b, start)
}

func appendLink(b []byte, l sdktrace.Link) []byte {
	b, start := beginMessage(b, spanLinks)
	tid, sid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
	b = appendBytes(b, linkTraceID, tid[:])
	b = appendBytes(b, linkSpanID, sid[:])
	b = appendString(b, linkTraceState, l.SpanContext.TraceState().String())
	for _, kv := range l.Attributes {
		b = appendKeyValue(b, linkAttributes, kv)
	}
	b = appendCount(b, linkDroppedAttributesCount, l.DroppedAttributeCount)
	b = protowire.AppendTag(b, linkFlags, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, flags(l.SpanContext.TraceFlags(), l.SpanContext))
	return endMessage(b, start)
}

// appendStatus appends the span's status, nothing when it is unset and
// has no description (what a missing Status means).
func appendStatus(b []byte, st sdktrace.Status) []byte {
	var code uint64
	switch st.Code {
	case codes.Ok:
		code = statusCodeOK
	case codes.Error:
		code = statusCodeError
	}
	if code == 0 && st.Description == "" {
		return b
	}
	b, start := beginMessage(b, spanStatus)
	b = appendString(b, statusMessage, st.Description)
	b = appendVarint(b, statusCode, code)
	return endMessage(b, start)
}

func appendIterator(b []byte, num protowire.Number, it attribute.Iterator) []byte {
	for it.Next() {
		b = appendKeyValue(b, num, it.Attribute())
	}
	return b
}

func appendKeyValue(b []byte, num protowire.Number, kv attribute.KeyValue) []byte {
	b, start := beginMessage(b, num)
	b = appendString(b, keyValueKey, string(kv.Key))
	b = appendValue(b, keyValueValue, kv.Value)
	return endMessage(b, start)
}

// appendValue appends v as an AnyValue. Its oneof field is written even
// when it holds its type's zero value: that is how a false or an empty
// string differs from no value at all (EMPTY, an AnyValue without one).
func appendValue(b []byte, num protowire.Number, v attribute.Value) []byte {
	b, start := beginMessage(b, num)
	switch v.Type() {
	case attribute.EMPTY:
	case attribute.BOOL:
		b = appendBool(b, v.AsBool())
	case attribute.INT64:
		b = appendInt(b, v.AsInt64())
	case attribute.FLOAT64:
		b = appendDouble(b, v.AsFloat64())
	case attribute.STRING:
		b = appendStringValue(b, v.AsString())
	case attribute.BYTESLICE:
		b = protowire.AppendTag(b, anyBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, v.AsByteSlice())
	case attribute.BOOLSLICE:
		b = appendArray(b, v.AsBoolSlice(), appendBool)
	case attribute.INT64SLICE:
		b = appendArray(b, v.AsInt64Slice(), appendInt)
	case attribute.FLOAT64SLICE:
		b = appendArray(b, v.AsFloat64Slice(), appendDouble)
	case attribute.STRINGSLICE:
		b = appendArray(b, v.AsStringSlice(), appendStringValue)
	case attribute.SLICE:
		b = appendList(b, anyArray, v.AsSlice(), appendValue)
	case attribute.MAP:
		b = appendList(b, anyKVList, v.AsMap(), appendKeyValue)
	default: // a type newer than this encoder: say so rather than drop it
		b = appendStringValue(b, "unsupported attribute type "+v.Type().String())
	}
	return endMessage(b, start)
}

// appendList appends vs as an ArrayValue or a KeyValueList (field num
// of an AnyValue), each element appended by appendOne as its field 1.
func appendList[T any](b []byte, num protowire.Number, vs []T, appendOne func([]byte, protowire.Number, T) []byte) []byte {
	b, start := beginMessage(b, num)
	for _, v := range vs {
		b = appendOne(b, listValues, v)
	}
	return endMessage(b, start)
}

// appendArray appends vs as an ArrayValue, each element an AnyValue
// holding what appendOne appends.
func appendArray[T any](b []byte, vs []T, appendOne func([]byte, T) []byte) []byte {
	return appendList(b, anyArray, vs, func(b []byte, num protowire.Number, v T) []byte {
		b, start := beginMessage(b, num)
		return endMessage(appendOne(b, v), start)
	})
}

func appendStringValue(b []byte, v string) []byte {
	b = protowire.AppendTag(b, anyString, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendBool(b []byte, v bool) []byte {
	b = protowire.AppendTag(b, anyBool, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeBool(v))
}

func appendInt(b []byte, v int64) []byte {
	b = protowire.AppendTag(b, anyInt, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendDouble(b []byte, v float64) []byte {
	b = protowire.AppendTag(b, anyDouble, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

// The helpers below leave out a field that holds its zero value, as
// proto3 does: a reader sees the same message either way.

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendCount appends a dropped count, a uint32.
func appendCount(b []byte, num protowire.Number, n int) []byte {
	return appendVarint(b, num, uint64(min(max(n, 0), math.MaxUint32)))
}

// appendTime appends t as nanoseconds since the Unix epoch, a fixed64;
// the zero time, or one before 1970, as 0.
func appendTime(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	ns := t.UnixNano()
	if ns <= 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, uint64(ns))
}

// beginMessage appends the tag of an embedded message, field num, and one
// byte for its length, and returns where the message's content starts:
// the content is appended to b next, and endMessage writes its length.
func beginMessage(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = append(b, 0)
	return b, len(b)
}

// endMessage writes the length of the message whose content starts at
// start in the byte that beginMessage kept for it, and when it needs more
// than one byte (128 bytes or more), moves the content to make room.
func endMessage(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	extra := protowire.SizeVarint(uint64(n)) - 1
	b = append(b, make([]byte, extra)...)
	copy(b[start+extra:], b[start:start+n])
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}
