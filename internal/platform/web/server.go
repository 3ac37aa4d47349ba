package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Serve serves h on ln until ctx is cancelled, then shuts down gracefully,
// giving requests in flight up to shutdownTimeout. The server has
// timeouts against slow clients; handlers that stream (Server-Sent
// Events) extend their own write deadline with http.ResponseController.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, shutdownTimeout time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.InfoContext(ctx, "http server listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http server shutdown timed out; closing open connections")
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// Listen listens on TCP addr, e.g. "127.0.0.1:0" for any free loopback
// port.
func Listen(addr string) (net.Listener, error) {
	return net.Listen("tcp", addr)
}

// Check is a readiness check: nil means ready.
type Check func(ctx context.Context) error

// Health registers GET /healthz (the process is alive: always 200) and
// GET /readyz (every check passes within 2s: 200, else 503 naming the
// failing checks) on mux. Why a check failed goes to log, not to the
// client: it names internal addresses.
func Health(mux *http.ServeMux, log *slog.Logger, checks map[string]Check) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, failed := http.StatusOK, map[string]string{}
		for name, check := range checks {
			if err := check(ctx); err != nil {
				status, failed[name] = http.StatusServiceUnavailable, "unavailable"
				log.WarnContext(ctx, "readiness check failed", "check", name, "err", err)
			}
		}
		if status != http.StatusOK {
			WriteJSON(w, status, map[string]any{"status": "unavailable", "failed": failed})
			return
		}
		WriteJSON(w, status, map[string]string{"status": "ready"})
	})
}

// CatchAll registers "/" on mux to answer unrouted requests with JSON
// errors, so that a client's wrong path or method gets the same error
// shape as everything else: 405 with Allow when the path exists for other
// methods, else 404. Register it after the other routes' patterns are
// known to mux (any order works; it is consulted per request).
func CatchAll(mux *http.ServeMux) {
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if m == r.Method {
				continue
			}
			other := r.Clone(r.Context())
			other.Method = m
			if _, pattern := mux.Handler(other); pattern != "" && pattern != "/" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			WriteJSON(w, http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{
				Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path + "; use " + strings.Join(allowed, " or "),
			}})
			return
		}
		WriteJSON(w, http.StatusNotFound, ErrorBody{Error: ErrorDetail{
			Code: "no_route", Message: "no route for " + r.Method + " " + r.URL.Path,
		}})
	})
}
