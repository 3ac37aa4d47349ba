package orderhistory

import (
	"log/slog"
	"net/http"

	"streamcart/internal/platform/auth"
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
// Errors are JSON {"error": {"code", "message"}}: invalid_limit for a bad
// limit, not_found for an order the caller does not have, or a malformed id.
func NewHandler(svc *Service, signer *auth.Signer, log *slog.Logger) http.Handler {
	h := &handler{svc: svc}
	mux := http.NewServeMux()
	mux.Handle("GET /history", signer.Require(web.Handle(log, h.list)))
	mux.Handle("GET /history/{orderId}", signer.Require(web.Handle(log, h.get)))
	return web.ServiceHandler(mux, log, map[string]web.Check{"redis": svc.Ping})
}

type handler struct{ svc *Service }

func (h *handler) list(w http.ResponseWriter, r *http.Request) error {
	id := auth.MustFromContext(r.Context())
	limit, err := web.IntQuery(r, "limit", DefaultLimit, 1, MaxLimit)
	if err != nil {
		return err
	}
	orders, err := h.svc.List(r.Context(), id.UserID, limit)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string][]Record{"orders": orders})
	return nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) error {
	id := auth.MustFromContext(r.Context())
	orderID, err := web.PathID(r, "orderId")
	if err != nil {
		return err
	}
	rec, err := h.svc.Get(r.Context(), id.UserID, orderID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rec)
	return nil
}
