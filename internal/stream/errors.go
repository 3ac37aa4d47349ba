package stream

import "errors"

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
