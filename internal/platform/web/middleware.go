package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

type requestIDKey struct{}

// RequestIDHeader carries a request's id between the gateway and services.
const RequestIDHeader = "X-Request-Id"

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithRequestID gives each request an id: the incoming X-Request-Id when
// it is sane, else a new random one. The id is echoed in the response.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !ValidID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
			r.Header.Set(RequestIDHeader, id)
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// StatusRecorder is a ResponseWriter that remembers the status and size
// written, for middleware that reports them after the handler: the access
// log, the tracing middleware.
type StatusRecorder struct {
	http.ResponseWriter
	// Status is the final status written; 0 until the handler writes.
	Status int
	// Bytes counts the body's bytes written.
	Bytes int
}

// WriteHeader records code, if it is the first final status written (an
// informational 1xx is not), and writes it.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.Status == 0 && code >= 200 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write writes b, recording 200 if no status was written, and counts its
// bytes.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.Bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach Flush for streaming responses.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// AccessLog logs each request at Info level (Debug for health checks)
// after it is served, and recovers a panicking handler into a 500.
func AccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &StatusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "handler panicked", "panic", p, "stack", string(debug.Stack()))
				if rec.Status == 0 {
					WriteJSON(rec, http.StatusInternalServerError, ErrorBody{Error: ErrorDetail{Code: "internal", Message: "internal server error"}})
				}
			}
			level := slog.LevelInfo
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
				level = slog.LevelDebug
			}
			log.Log(r.Context(), level, "http request",
				"method", r.Method, "path", r.URL.Path, "status", rec.Status, "bytes", rec.Bytes,
				"duration", time.Since(start), "request_id", RequestID(r.Context()))
		}()
		next.ServeHTTP(rec, r)
	})
}
