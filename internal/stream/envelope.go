package stream

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Envelope field names. They are reserved: payload fields may not use them,
// nor start with the dead-letter prefix "dlq.".
const (
	FieldEventID      = "eventId"
	FieldEventType    = "eventType"
	FieldEventVersion = "eventVersion"
	FieldEventTime    = "eventTime"
	FieldTraceParent  = "traceparent"
)

var reserved = map[string]bool{
	FieldEventID: true, FieldEventType: true, FieldEventVersion: true,
	FieldEventTime: true, FieldTraceParent: true,
}

// Event is what a producer publishes. Only Type is required.
type Event struct {
	// ID identifies the event across redeliveries and replays; consumers
	// dedupe on it. NewID is used when it is empty.
	ID string
	// Type names the event in the past tense, e.g. "OrderPlaced".
	Type string
	// Version is the payload's schema version; 0 means 1.
	Version int
	// Time is when the event happened; the zero value means now.
	Time time.Time
	// TraceParent is an optional W3C trace context.
	TraceParent string
	// Fields is the payload: flat string fields, as the stream stores them.
	Fields map[string]string
}

// Message is an Event as a consumer receives it.
type Message struct {
	Event
	// Stream is the stream the entry was read from: for a consumer of a
	// partitioned stream, the partition (e.g. "ORDERS_STREAM:3").
	Stream string
	// EntryID is the entry's stream id, e.g. "1732570000000-0".
	EntryID string
	// Deliveries counts how often the entry has been delivered to the
	// group, this delivery included (1 on the first).
	Deliveries int64
}

// ErrMalformed is wrapped by decoding errors of entries that are not valid
// envelopes. Such entries go to the dead-letter stream at once.
var ErrMalformed = errors.New("malformed stream entry")

// NewID returns a new random, time-ordered identifier in UUID version 7
// format.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	b[6] = b[6]&0x0f | 0x70 // version 7
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// Normalize checks that e can be published and fills in its ID, Version
// and Time when they are empty.
func (e *Event) Normalize() error {
	if e.Type == "" {
		return errors.New("event has no type")
	}
	for k := range e.Fields {
		if k == "" || reserved[k] || strings.HasPrefix(k, dlqPrefix) {
			return fmt.Errorf("event %s: payload field %q is reserved", e.Type, k)
		}
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.Version == 0 {
		e.Version = 1
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	return nil
}

// values returns the XADD field/value list for e: the envelope first, then
// the payload in sorted field order. It normalizes e first.
func (e *Event) values() ([]any, error) {
	if err := e.Normalize(); err != nil {
		return nil, err
	}
	vals := make([]any, 0, 10+2*len(e.Fields))
	vals = append(vals,
		FieldEventID, e.ID,
		FieldEventType, e.Type,
		FieldEventVersion, strconv.Itoa(e.Version),
		FieldEventTime, e.Time.UTC().Format(time.RFC3339Nano),
	)
	if e.TraceParent != "" {
		vals = append(vals, FieldTraceParent, e.TraceParent)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		vals = append(vals, k, e.Fields[k])
	}
	return vals, nil
}

// Decode reads an entry of stream read with XRANGE or XREAD (not through a
// Consumer) into a Message with Deliveries 1. Errors wrap ErrMalformed.
// Tools that replay a stream, such as a read model's rebuild, use it to
// see entries exactly as consumers do.
func Decode(stream string, xm redis.XMessage) (Message, error) {
	e, err := decodeEvent(xm.Values)
	if err != nil {
		return Message{}, fmt.Errorf("entry %s of %s: %w", xm.ID, stream, err)
	}
	return Message{Event: e, Stream: stream, EntryID: xm.ID, Deliveries: 1}, nil
}

// decodeEvent reads an envelope from an entry's fields. Errors wrap
// ErrMalformed.
func decodeEvent(fields map[string]any) (Event, error) {
	// Size the payload map without the four required envelope fields:
	// small payloads then fit in one map group, which saves an allocation
	// per message.
	e := Event{Fields: make(map[string]string, max(len(fields)-4, 0))}
	for k, v := range fields {
		s, ok := v.(string)
		if !ok {
			return Event{}, fmt.Errorf("%w: field %q is %T, not a string", ErrMalformed, k, v)
		}
		switch k {
		case FieldEventID:
			e.ID = s
		case FieldEventType:
			e.Type = s
		case FieldEventVersion:
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return Event{}, fmt.Errorf("%w: %s %q is not a positive integer", ErrMalformed, k, s)
			}
			e.Version = n
		case FieldEventTime:
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return Event{}, fmt.Errorf("%w: %s %q is not an RFC 3339 time", ErrMalformed, k, s)
			}
			e.Time = t
		case FieldTraceParent:
			e.TraceParent = s
		default:
			e.Fields[k] = s
		}
	}
	switch {
	case e.ID == "":
		return Event{}, fmt.Errorf("%w: no %s", ErrMalformed, FieldEventID)
	case e.Type == "":
		return Event{}, fmt.Errorf("%w: no %s", ErrMalformed, FieldEventType)
	case e.Version == 0:
		e.Version = 1
	}
	return e, nil
}
