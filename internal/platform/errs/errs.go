// Package errs is streamcart's error vocabulary. Domain code says what
// kind of failure happened (not found, invalid, conflict, …) with a
// stable code and a message for people; it never says how a transport
// shows it. The web layer turns a kind into an HTTP status in one table
// (web.Handle), and the stream layer decides retries from its own marks.
//
//	return errs.Conflict("price_changed", "the price of %s is now %s", id, price)
//
// An error that is not an *Error is a fault of the server: clients see
// only "internal", and the detail goes to the log.
package errs

import (
	"errors"
	"fmt"
)

// Kind is what went wrong, as a client can act on it.
type Kind uint8

// The kinds. KindInternal is the zero value, so an unclassified error is
// never shown to a client as anything else.
const (
	// KindInternal is a fault of the server; its detail is never shown.
	KindInternal Kind = iota
	// KindInvalid: the request is malformed; sending it again will not help.
	KindInvalid
	// KindNotFound: the thing asked for does not exist, or is not the
	// caller's to see (both look the same, so ids cannot be probed).
	KindNotFound
	// KindConflict: the request contradicts the current state, such as a
	// price that changed since the shopper saw it.
	KindConflict
	// KindUnprocessable: well formed, but a business rule refuses it.
	KindUnprocessable
	// KindUnauthorized: the caller could not be identified.
	KindUnauthorized
	// KindForbidden: the caller is known and may not do this.
	KindForbidden
	// KindUnavailable: a dependency is down; the same request may succeed
	// shortly.
	KindUnavailable
	// KindTooLarge: the request is bigger than the route accepts.
	KindTooLarge
	// KindUnsupportedMedia: the request body is in a format the route does
	// not read.
	KindUnsupportedMedia
	// KindRateLimited: the caller sent too many requests; it may retry later.
	KindRateLimited
	// KindTimeout: a service behind this one did not answer in time.
	KindTimeout
	// KindBadGateway: a service behind this one failed to answer properly.
	KindBadGateway
)

var kindNames = [...]string{
	KindInternal:         "internal",
	KindInvalid:          "invalid",
	KindNotFound:         "not_found",
	KindConflict:         "conflict",
	KindUnprocessable:    "unprocessable",
	KindUnauthorized:     "unauthorized",
	KindForbidden:        "forbidden",
	KindUnavailable:      "unavailable",
	KindTooLarge:         "too_large",
	KindUnsupportedMedia: "unsupported_media_type",
	KindRateLimited:      "rate_limited",
	KindTimeout:          "timeout",
	KindBadGateway:       "bad_gateway",
}

// String is the kind's name, which is also the public code of an error
// of that kind that has none of its own.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Error is a failure that a client may see: its kind, a stable
// machine-readable code and a message for people. Err, the cause, is for
// errors.Is/As and logs only.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// E returns an error of kind with code and a formatted message. An empty
// code takes the kind's name.
func E(kind Kind, code, format string, args ...any) *Error {
	if code == "" {
		code = kind.String()
	}
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an Invalid error.
func Invalid(code, format string, args ...any) *Error { return E(KindInvalid, code, format, args...) }

// NotFound returns a NotFound error.
func NotFound(code, format string, args ...any) *Error { return E(KindNotFound, code, format, args...) }

// Conflict returns a Conflict error.
func Conflict(code, format string, args ...any) *Error { return E(KindConflict, code, format, args...) }

// Unprocessable returns an Unprocessable error.
func Unprocessable(code, format string, args ...any) *Error {
	return E(KindUnprocessable, code, format, args...)
}

// Unauthorized returns an Unauthorized error.
func Unauthorized(code, format string, args ...any) *Error {
	return E(KindUnauthorized, code, format, args...)
}

// Forbidden returns a Forbidden error.
func Forbidden(code, format string, args ...any) *Error {
	return E(KindForbidden, code, format, args...)
}

// Unavailable returns an Unavailable error caused by cause (a dependency
// that is down), with code "unavailable".
func Unavailable(cause error, format string, args ...any) *Error {
	e := E(KindUnavailable, "", format, args...)
	e.Err = cause
	return e
}

// As returns the *Error in err's chain, if there is one.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of the *Error in err's chain; Internal when
// there is none.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return KindInternal
}
