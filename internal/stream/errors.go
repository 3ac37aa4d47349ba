package stream

import "errors"

// Permanent marks err as not worth retrying: the message goes to the
// dead-letter stream at once. Use it for messages that fail validation.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err was marked by Permanent or wraps
// ErrMalformed.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p) || errors.Is(err, ErrMalformed)
}

// Unavailable marks err as an outage of something the handler depends on,
// such as its database: the message is retried with backoff for as long as
// the outage lasts and is never dead-lettered for it. A batch that fails so
// is retried whole rather than one message at a time.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &unavailableError{err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }

func (e *unavailableError) Unwrap() error { return e.err }

// IsUnavailable reports whether err was marked by Unavailable.
func IsUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}
