package orderhistory

import (
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
	rt := auth.NewRoutes(signer, svc.log, map[string]web.Check{"redis": svc.Ping, "history": svc.Complete})
	rt.HandleFunc("GET /history", auth.Shopper, auth.ListOwn("orders", DefaultLimit, MaxLimit, svc.List))
	rt.HandleFunc("GET /history/{orderId}", auth.Shopper, auth.GetOwnByID("orderId", svc.Get))
	rt.HandleFunc("GET /history/{orderId}/journey", auth.Operator, web.GetByID("orderId", svc.Journey))
	return rt
}
