package orderhistory

import (
	"net/http"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/web"
)

// NewHandler returns the service's route table (auth.Routes), whose
// identities signer checks. A shopper sees only their own orders.
//
//	GET /history?limit=50     shopper: {"orders": [Record...]}, newest
//	                          first; limit 1 to 100, default 50
//	GET /history/{orderId}    shopper: one Record, or 404 when the caller
//	                          has no such order (another user's included)
//	GET /history/{orderId}/journey  operator: the record's status and when
//	                          it took it (Journey), of any user's order,
//	                          for the operations page; 404 while the
//	                          history has no record of the order
//	GET /readyz               ready when Redis answers and the history is
//	                          complete
//
// The errors are invalid_limit for a bad limit, not_found for an order
// the caller does not have or a malformed id, and unavailable (503,
// Retry-After) while the history is being rebuilt (see Service.Rebuild),
// rather than a list that may lack orders.
func NewHandler(svc *Service, signer *auth.Signer) *auth.Routes {
	h := &handler{svc: svc}
	rt := auth.NewRoutes(signer, svc.log, map[string]web.Check{"redis": svc.Ping, "history": svc.Complete})
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
