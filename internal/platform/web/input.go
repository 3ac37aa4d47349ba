package web

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"streamcart/internal/platform/errs"
)

// Limits of what a request's URL may hold, whatever the route.
// CheckURL enforces them; routes have tighter limits of their own.
const (
	// MaxQueryValueLen is the most bytes in one query parameter's name
	// or value, after percent-decoding.
	MaxQueryValueLen = 1024
	// MaxQueryParams is the most parameters in one query.
	MaxQueryParams = 64
	// MaxPathLen is the most bytes in a request's path, after
	// percent-decoding.
	MaxPathLen = 1024
)

// CheckURL returns an Invalid error (400) when r's path or query holds
// what no route takes: a NUL or another control character, bytes that are
// not UTF-8 (after percent-decoding), a malformed percent-escape or a ';'
// separator, or more than MaxQueryParams parameters, MaxQueryValueLen bytes
// in a name or value, or MaxPathLen bytes in the path. The code is
// "invalid_query" or "invalid_path"; the message names the parameter when
// its name is plain text.
//
// PostgreSQL refuses NUL bytes and invalid UTF-8 in text, and a refused
// query is a server error: CheckURL keeps such input from ever reaching
// a handler.
func CheckURL(r *http.Request) error {
	if p := r.URL.Path; len(p) > MaxPathLen {
		return errs.Invalid("invalid_path", "the path is longer than %d bytes", MaxPathLen)
	} else if msg := badText(p); msg != "" {
		return errs.Invalid("invalid_path", "the path %s", msg)
	}
	raw := r.URL.RawQuery
	if raw == "" {
		return nil
	}
	if n := strings.Count(raw, "&") + 1; n > MaxQueryParams {
		return errs.Invalid("invalid_query", "the query has %d parameters; at most %d are allowed", n, MaxQueryParams)
	}
	for pair := range strings.SplitSeq(raw, "&") {
		if strings.Contains(pair, ";") {
			return errs.Invalid("invalid_query", "the query must separate parameters with '&', not ';'")
		}
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return errs.Invalid("invalid_query", "a query parameter's name is not valid percent-encoding")
		}
		if len(name) > MaxQueryValueLen {
			return errs.Invalid("invalid_query", "a query parameter's name is longer than %d bytes", MaxQueryValueLen)
		}
		if msg := badText(name); msg != "" {
			return errs.Invalid("invalid_query", "a query parameter's name %s", msg)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return errs.Invalid("invalid_query", "query parameter %s is not valid percent-encoding", quoteShort(name))
		}
		if len(value) > MaxQueryValueLen {
			return errs.Invalid("invalid_query", "query parameter %s is longer than %d bytes", quoteShort(name), MaxQueryValueLen)
		}
		if msg := badText(value); msg != "" {
			return errs.Invalid("invalid_query", "query parameter %s %s", quoteShort(name), msg)
		}
	}
	return nil
}

// badText says what is wrong with s as text from a client, or "": it must
// be UTF-8 without NUL or other control characters.
func badText(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8 text"
	}
	for _, c := range s {
		switch {
		case c == 0:
			return "contains a NUL character"
		case c < 0x20 || c == 0x7f:
			return "contains a control character"
		}
	}
	return ""
}

// quoteShort quotes s, a client's input, for an error message: escaped
// as a Go string literal (so it is ASCII-safe text whatever s holds) and
// cut after 32 bytes.
func quoteShort(s string) string {
	if len(s) <= 32 {
		return strconv.Quote(s)
	}
	cut := 32
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// CheckInput answers a request whose URL CheckURL refuses with that
// error, written by WriteError, so that no handler behind it sees such
// input. The gateway writes the error its own way (its tutorial routes
// answer in their envelope) and calls CheckURL itself.
func CheckInput(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := CheckURL(r); err != nil {
			WriteError(w, r, log, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// NoSniff sets X-Content-Type-Options: nosniff on every response, so that
// a browser never takes a JSON answer for HTML or script.
func NoSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// CheckText returns an Invalid error with code "invalid_text" that names
// field when s, a client's text, is longer than max bytes or is not UTF-8
// without NUL or control characters; else nil. Use it on strings that
// reach a query, a key or a log from elsewhere than a URL or a JSON body
// (which CheckURL and DecodeJSON check), or with a route's own limit.
func CheckText(field, s string, max int) error {
	if len(s) > max {
		return errs.Invalid("invalid_text", "%s must be at most %d bytes long", field, max)
	}
	if msg := badText(s); msg != "" {
		return errs.Invalid("invalid_text", "%s %s", field, msg)
	}
	return nil
}
