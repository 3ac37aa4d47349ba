// Package web is the HTTP layer shared by streamcart's services: handlers
// that return errors, JSON in and out with strict limits, one mapping from
// errors to status codes, middleware, health endpoints and a server with
// graceful shutdown.
package web

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error with an HTTP status, a stable machine-readable code and
// a message for people. Handlers return it for anything that is not a
// server fault; everything else becomes a 500 whose detail is only logged.
type Error struct {
	Status  int
	Code    string
	Message string
	// Err is an optional cause, for errors.Is/As and logs; never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given status and code and a formatted
// message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a 400 error: the request is wrong and retrying it will
// not help.
func Invalid(code, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, code, format, args...)
}

// NotFound returns a 404 error.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, "not_found", format, args...)
}

// Conflict returns a 409 error.
func Conflict(code, format string, args ...any) *Error {
	return Errorf(http.StatusConflict, code, format, args...)
}

// Unavailable returns a 503 error wrapping cause: a dependency is down;
// the client may retry later.
func Unavailable(cause error, format string, args ...any) *Error {
	e := Errorf(http.StatusServiceUnavailable, "unavailable", format, args...)
	e.Err = cause
	return e
}

// StatusOf returns the HTTP status for err: the status of the *Error it
// wraps, else 500. It is the only place that maps errors to statuses.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}
