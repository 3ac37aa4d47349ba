package web

import (
	"net/http"
	"strconv"

	"streamcart/internal/platform/errs"
)

// MaxIDLen bounds every id a route takes: orders, products, requests.
const MaxIDLen = 64

// ValidID reports whether id is a sane identifier: 1 to MaxIDLen
// characters from [A-Za-z0-9_-]. Every id that arrives from a client is
// checked by it before it reaches a database, a key or a log line.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// PathID returns the path value name of r, or a NotFound error when it
// is not a ValidID: no such thing can exist, and a malformed id must not
// reach a query.
func PathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if !ValidID(id) {
		return "", errs.NotFound("", "no such %s", name)
	}
	return id, nil
}

// IntQuery returns the query parameter name of r as an integer from min
// to max, or def when the parameter is absent or empty. Anything else is
// an Invalid error with code "invalid_<name>" that says what is allowed.
func IntQuery(r *http.Request, name string, def, min, max int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		if len(s) > 32 {
			s = s[:32] + "…"
		}
		return 0, errs.Invalid("invalid_"+name, "%s must be a whole number from %d to %d, not %q", name, min, max, s)
	}
	return n, nil
}
