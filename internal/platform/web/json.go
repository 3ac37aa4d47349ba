package web

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

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

// DecodeJSON reads exactly one JSON value of at most maxBytes from r's body
// into v, rejecting unknown fields. Its errors are *errs.Error of kind
// Invalid, TooLarge or UnsupportedMedia with a message that says what is
// wrong.
func DecodeJSON(r *http.Request, maxBytes int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errs.E(errs.KindUnsupportedMedia, "", "Content-Type must be application/json, not %q", ct)
	}
	body := http.MaxBytesReader(nil, r.Body, maxBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, maxBytes)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return jsonError(err, maxBytes)
		}
		return errs.Invalid("invalid_json", "request body must hold a single JSON value")
	}
	return nil
}

func jsonError(err error, maxBytes int64) error {
	var (
		syntax    *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		tooLarge  *http.MaxBytesError
		errPrefix = "json: unknown field "
	)
	switch {
	case errors.As(err, &tooLarge):
		return errs.E(errs.KindTooLarge, "body_too_large", "request body is larger than %d bytes", maxBytes)
	case errors.As(err, &syntax):
		return errs.Invalid("invalid_json", "request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return errs.Invalid("invalid_field", "field %q must be a %s, not a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		}
		return errs.Invalid("invalid_json", "request body must be a JSON %s, not a %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), errPrefix):
		return errs.Invalid("unknown_field", "unknown field %s", strings.TrimPrefix(err.Error(), errPrefix))
	case errors.Is(err, io.EOF):
		return errs.Invalid("invalid_json", "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Invalid("invalid_json", "request body is cut short")
	default:
		return errs.Invalid("invalid_json", "request body: %v", err)
	}
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
	default:
		return kind
	}
}
