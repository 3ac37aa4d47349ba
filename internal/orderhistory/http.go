package orderhistory

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// NewHandler returns the service's HTTP API. The /history routes require
// an identity signed by the gateway (signer) and show only the caller's
// orders; /healthz and /readyz do not.
//
//	GET /history?limit=50     {"orders": [Record...]}, newest first; limit
//	                          1 to 100, default 50
//	GET /history/{orderId}    one Record, or 404 when the caller has no
//	                          such order (another user's included)
//	GET /healthz, /readyz     liveness; Redis readiness
//
// Errors are JSON {"error": {"code", "message"}}. A nil log means
// slog.Default().
func NewHandler(svc *Service, signer *auth.Signer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &handler{svc: svc}
	mux := http.NewServeMux()
	mux.Handle("GET /history", signer.Require(web.Handle(log, h.list)))
	mux.Handle("GET /history/{orderId}", signer.Require(web.Handle(log, h.get)))
	web.CatchAll(mux)
	web.Health(mux, map[string]web.Check{"redis": svc.Ping})
	return web.WithRequestID(web.AccessLog(log, mux))
}

type handler struct{ svc *Service }

func (h *handler) list(w http.ResponseWriter, r *http.Request) error {
	id, _ := auth.FromContext(r.Context())
	limit := DefaultLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return errs.Invalid("invalid_limit", "limit must be a whole number from 1 to %d, got %q", MaxLimit, v)
		}
		limit = n
	}
	orders, err := h.svc.List(r.Context(), id.UserID, limit)
	if err != nil {
		return httpError(err)
	}
	web.WriteJSON(w, http.StatusOK, map[string][]Record{"orders": orders})
	return nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) error {
	id, _ := auth.FromContext(r.Context())
	rec, err := h.svc.Get(r.Context(), id.UserID, r.PathValue("orderId"))
	if err != nil {
		return httpError(err)
	}
	web.WriteJSON(w, http.StatusOK, rec)
	return nil
}

// httpError maps the service's errors to web errors. It is the only place
// that does.
func httpError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		e := errs.NotFound("", "no such order in your history")
		e.Err = err
		return e
	case unreachable(err):
		return errs.Unavailable(err, "order history is unavailable; try again later")
	default:
		return err
	}
}

// unreachable reports whether err is Redis not answering, as opposed to
// Redis answering with an error or a record that does not parse.
func unreachable(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded)
}
