package orderhistory

import (
	"log/slog"
	"net/http"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/web"
)

// NewHandler returns the service's HTTP API, its routes in a route table
// (auth.Routes) with who may call each. The /history routes are a
// shopper's, in the identity the gateway signed (signer), and show only
// the shopper's orders: without a valid identity they answer 401, to
// another role 403. /healthz and /readyz are open.
//
//	GET /history?limit=50     shopper: {"orders": [Record...]}, newest
//	                          first; limit 1 to 100, default 50
//	GET /history/{orderId}    shopper: one Record, or 404 when the caller
//	                          has no such order (another user's included)
//	GET /history/{orderId}/journey  operator: the record's status and when
//	                          it took it (Journey), of any user's order,
//	                          for the operations page; 404 while the
//	                          history has no record of the order
//	GET /healthz, /readyz     open: liveness; readiness: Redis answers and
//	                          the history is complete
//
// Errors are JSON {"error": {"code", "message"}}: invalid_limit for a bad
// limit, not_found for an order the caller does not have, or a malformed
// id; unavailable (503, Retry-After) while the history is being rebuilt
// (see Service.Rebuild), rather than a list that may lack orders.
func NewHandler(svc *Service, signer *auth.Signer, log *slog.Logger) *auth.Routes {
	h := &handler{svc: svc}
	rt := auth.NewRoutes(signer, log, map[string]web.Check{"redis": svc.Ping, "history": svc.Complete})
	rt.HandleFunc("GET /history", auth.Shopper, h.list)
	rt.HandleFunc("GET /history/{orderId}", auth.Shopper, h.get)
	rt.HandleFunc("GET /history/{orderId}/journey", auth.Operator, web.GetByID("orderId", svc.Journey))
	return rt
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
