package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"streamcart/internal/platform/errs"
)

// HandlerFunc is an HTTP handler that returns its error instead of
// writing it. Wrap it with Handle.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ErrorBody is the JSON body of every error response:
// {"error": {"code": "...", "message": "..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Handle adapts h to http.Handler: a returned error is written by
// WriteError.
func Handle(log *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, log, err)
		}
	})
}

// WriteError writes err as a JSON ErrorBody with its status (Describe)
// and logs it once (LogError). An Unavailable or RateLimited error
// carries Retry-After.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, detail := Describe(err)
	LogError(log, r, status, err)
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	WriteJSON(w, status, ErrorBody{Error: detail})
}

// Describe returns err's status and the detail a client may see.
func Describe(err error) (int, ErrorDetail) {
	e := Classify(err)
	return statusOfKind(e.Kind), ErrorDetail{Code: e.Code, Message: e.Message}
}

// LogError logs a failed request once: at Error level for a 5xx, which
// someone should look at, and at Debug level for the client's mistakes.
func LogError(log *slog.Logger, r *http.Request, status int, err error) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	}
	log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// DecodeJSON reads exactly one JSON value of at most maxBytes from r's
// body into v, by the strict JSONRules: the /api/v1 routes' and the
// services' way.
func DecodeJSON(r *http.Request, maxBytes int64, v any) error {
	return DecodeJSONBody(r, JSONRules{MaxBytes: maxBytes}, v)
}

// JSONRules says how DecodeJSONBody reads a body. The zero value of each
// switch is the strict choice.
type JSONRules struct {
	// MaxBytes is the largest body read; more is a TooLarge error (413).
	MaxBytes int64
	// AnyContentType reads the body whatever its Content-Type says, or
	// without one. Strictly, it must be application/json (parameters
	// allowed) or an application/…+json type, else UnsupportedMedia (415).
	AnyContentType bool
	// EmptyOK leaves v alone when the body is empty or only space;
	// strictly, an empty body is Invalid.
	EmptyOK bool
	// UnknownFields ignores object fields v has no place for; strictly,
	// they are Invalid.
	UnknownFields bool
	// UseNumber decodes a number into an interface value as json.Number.
	UseNumber bool
}

// DecodeJSONBody reads r's body into v by rules. Whatever the rules, the
// body must be UTF-8 text holding exactly one JSON value (space may
// follow it, nothing else), and no string in it may hold a NUL character
// (\u0000): PostgreSQL refuses NUL in text. Its errors are *errs.Error of
// kind Invalid (400), TooLarge (413) or UnsupportedMedia (415) with a
// message that says what is wrong and never holds Go's own error text;
// the cause, kept for the log, is in their Err.
func DecodeJSONBody(r *http.Request, rules JSONRules, v any) error {
	if ct := r.Header.Get("Content-Type"); !rules.AnyContentType && !isJSONType(ct) {
		if ct == "" {
			return errs.E(errs.KindUnsupportedMedia, "", "Content-Type must be application/json")
		}
		return errs.E(errs.KindUnsupportedMedia, "", "Content-Type must be application/json, not %s", quoteShort(ct))
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, rules.MaxBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errs.E(errs.KindTooLarge, "body_too_large", "request body is larger than %d bytes", rules.MaxBytes)
		}
		e := errs.Invalid("unreadable_body", "the request body could not be read to its end")
		e.Err = err
		return e
	}
	if len(bytes.TrimLeft(body, jsonSpace)) == 0 {
		if rules.EmptyOK {
			return nil
		}
		return errs.Invalid("invalid_json", "request body is empty")
	}
	if !utf8.Valid(body) {
		return errs.Invalid("invalid_utf8", "request body is not valid UTF-8 text")
	}
	if hasNULEscape(body) {
		return errs.Invalid("invalid_text", "request body has a NUL character (\\u0000) in a string")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if !rules.UnknownFields {
		dec.DisallowUnknownFields()
	}
	if rules.UseNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if end := dec.InputOffset(); len(bytes.TrimLeft(body[end:], jsonSpace)) > 0 {
		return errs.Invalid("invalid_json", "request body must hold a single JSON value; more follows at byte %d", end)
	}
	return nil
}

// jsonSpace is the space JSON allows between values.
const jsonSpace = " \t\r\n"

// isJSONType reports whether ct, a Content-Type, is application/json or
// an application/…+json type, with any parameters.
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || len(sub) > len("+json") && strings.HasSuffix(sub, "+json"))
}

// hasNULEscape reports whether a string of b, JSON text, holds the
// escape \u0000. It follows strings and their escapes, so that an
// escaped backslash followed by "u0000" is not taken for one.
func hasNULEscape(b []byte) bool {
	in := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			in = !in
		case in && c == '\\' && i+1 < len(b):
			if b[i+1] == 'u' && i+5 < len(b) && string(b[i+2:i+6]) == "0000" {
				return true
			}
			i++ // the escaped character
		}
	}
	return false
}

// jsonError turns a decoder's error into the client's: what is wrong, in
// JSON's words, with the client's input cut short. The decoder's own
// text, which names Go types, goes only to the log, in Err.
func jsonError(err error) error {
	var (
		syntax    *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		errPrefix = "json: unknown field "
		e         *errs.Error
	)
	switch {
	case errors.As(err, &syntax):
		e = errs.Invalid("invalid_json", "request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typeErr):
		value := typeErr.Value
		if len(value) > 40 {
			value = value[:40] + "…"
		}
		if typeErr.Field != "" {
			e = errs.Invalid("invalid_field", "field %s must be a JSON %s, not a JSON %s", quoteShort(typeErr.Field), jsonKind(typeErr.Type.Kind().String()), value)
		} else {
			e = errs.Invalid("invalid_json", "request body must be a JSON %s, not a %s", jsonKind(typeErr.Type.Kind().String()), value)
		}
	case strings.HasPrefix(err.Error(), errPrefix):
		name := strings.TrimPrefix(err.Error(), errPrefix)
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			name = unq
		}
		e = errs.Invalid("unknown_field", "unknown field %s", quoteShort(name))
	case errors.Is(err, io.ErrUnexpectedEOF):
		e = errs.Invalid("invalid_json", "request body is cut short")
	default:
		e = errs.Invalid("invalid_json", "request body is not valid JSON")
	}
	e.Err = err
	return e
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "struct", kind == "map":
		return "object"
	case kind == "slice", kind == "array":
		return "array"
	case kind == "bool":
		return "boolean"
	case kind == "string":
		return "string"
	default:
		return "value"
	}
}
