package stream

import (
	"errors"
	"time"
)

// Permanent marks err as not worth retrying: the message goes to the
// dead-letter stream at once. Use it for messages that fail validation.
func Permanent(err error) error { return mark[permanent](err) }

// IsPermanent reports whether err was marked by Permanent or wraps
// ErrMalformed.
func IsPermanent(err error) bool {
	return isMarked[permanent](err) || errors.Is(err, ErrMalformed)
}

// Unavailable marks err as an outage of something the handler depends on,
// such as its database: the message is retried with backoff for as long as
// the outage lasts and is never dead-lettered for it. A batch that fails so
// is retried whole rather than one message at a time.
func Unavailable(err error) error { return mark[unavailable](err) }

// IsUnavailable reports whether err was marked by Unavailable.
func IsUnavailable(err error) bool { return isMarked[unavailable](err) }

// Defer marks err as a reason to handle the message later, not a failure:
// the message arrived before something it needs, such as identity's order
// of a user whose first login is not recorded yet. The consumer delivers
// it again after the delay after (at least Config.RetryBackoff, at most
// Config.MaxDeferral), without counting a delivery toward MaxDeliveries
// and logging it at Debug only. A batch that returns it is retried whole.
// An entry deferred for longer than Config.MaxDeferral in all is treated
// as failed from then on, so that it cannot wait for ever.
func Defer(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &deferred{err: err, after: after}
}

// IsDeferred reports whether err was marked by Defer.
func IsDeferred(err error) bool {
	_, ok := deferral(err)
	return ok
}

// deferral returns the delay of the Defer mark of err, if it has one.
func deferral(err error) (time.Duration, bool) {
	var d *deferred
	if !errors.As(err, &d) {
		return 0, false
	}
	return d.after, true
}

// deferred is err marked by Defer.
type deferred struct {
	err   error
	after time.Duration
}

func (e *deferred) Error() string { return e.err.Error() }

func (e *deferred) Unwrap() error { return e.err }

// The kinds of marks a handler's error can carry.
type (
	permanent   struct{}
	unavailable struct{}
)

// marked is err with a mark of kind K; its message and chain are err's.
type marked[K any] struct{ err error }

func (e *marked[K]) Error() string { return e.err.Error() }

func (e *marked[K]) Unwrap() error { return e.err }

// mark returns err marked with kind K, or nil for a nil err.
func mark[K any](err error) error {
	if err == nil {
		return nil
	}
	return &marked[K]{err}
}

// isMarked reports whether err or an error it wraps is marked with kind K.
func isMarked[K any](err error) bool {
	var m *marked[K]
	return errors.As(err, &m)
}
