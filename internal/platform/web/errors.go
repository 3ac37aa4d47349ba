// Package web is the HTTP layer shared by streamcart's services: handlers
// that return errors, JSON in and out with strict limits, one table from
// error kinds to status codes, middleware, health endpoints and a server
// with graceful shutdown.
package web

import (
	"net/http"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/redisclient"
)

// statuses is the one table from an error's kind to its HTTP status.
var statuses = [...]int{
	errs.KindInternal:         http.StatusInternalServerError,
	errs.KindInvalid:          http.StatusBadRequest,
	errs.KindNotFound:         http.StatusNotFound,
	errs.KindConflict:         http.StatusConflict,
	errs.KindUnprocessable:    http.StatusUnprocessableEntity,
	errs.KindUnauthorized:     http.StatusUnauthorized,
	errs.KindForbidden:        http.StatusForbidden,
	errs.KindUnavailable:      http.StatusServiceUnavailable,
	errs.KindTooLarge:         http.StatusRequestEntityTooLarge,
	errs.KindUnsupportedMedia: http.StatusUnsupportedMediaType,
	errs.KindRateLimited:      http.StatusTooManyRequests,
	errs.KindTimeout:          http.StatusGatewayTimeout,
	errs.KindBadGateway:       http.StatusBadGateway,
}

// outage is what a client is told when a database or Redis is down and
// the code that met it said nothing more specific.
const outage = "a service this request needs is briefly unavailable; try again shortly"

// Classify returns the public form of err: the *errs.Error it wraps; for
// an outage of PostgreSQL or Redis, which may surface anywhere, an
// Unavailable error (the one place where outages get their kind); else
// an Internal error whose detail is never shown. An outage that broke a
// write after it was sent leaves its outcome unknown (postgres.OutcomeUnknown):
// only the code that wrote can say so (orders' outcome_unknown), as only
// it knows that it wrote and how a retry finds out.
func Classify(err error) *errs.Error {
	if e, ok := errs.As(err); ok {
		return e
	}
	if postgres.IsUnavailable(err) || redisclient.IsUnavailable(err) {
		return errs.Unavailable(err, outage)
	}
	return &errs.Error{Kind: errs.KindInternal, Code: "internal", Message: "internal server error", Err: err}
}

// StatusOf returns the HTTP status for err, by Classify and the table.
func StatusOf(err error) int {
	return statusOfKind(Classify(err).Kind)
}

func statusOfKind(k errs.Kind) int {
	if int(k) < len(statuses) {
		return statuses[k]
	}
	return http.StatusInternalServerError
}

// KindOf returns the kind whose status is status, for a client that
// reads another service's error response; Internal for a status the
// table does not have.
func KindOf(status int) errs.Kind {
	for k, s := range statuses {
		if s == status {
			return errs.Kind(k)
		}
	}
	return errs.KindInternal
}
