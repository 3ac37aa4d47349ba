package orders

import (
	"net/http"

	"streamcart/internal/ordercheck"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// NewHandler returns the service's route table (auth.Routes), whose
// identities signer checks:
//
//	POST /orders          shopper: create an order (optional Idempotency-Key header)
//	GET  /orders          shopper: their orders, newest first (?limit=1..100, default 50)
//	GET  /orders/{id}     shopper: one of their orders
//	POST /orders/snapshots  service or operator: publish a page of order
//	                      snapshots (PublishSnapshots), for the order history
//	POST /orders/lookup   service or operator: which of a list of ids are
//	                      orders, with user and amount (Lookup), for the
//	                      consumers of OrderPlaced (package ordercheck)
//	GET  /orders/{id}/journey  operator: when the order was created, its
//	                      OrderPlaced published and its payment outcome
//	                      applied (Journey), for the operations page
//	GET  /readyz          ready when PostgreSQL and Redis answer
//
// POST /orders takes {"items": [{"productId", "qty", "priceCents"?}]} and
// answers the order with 201, or with 200 when it repeats an earlier
// request with the same Idempotency-Key. Another user's order answers 404,
// so its existence is not told. POST /orders/snapshots takes {"after":
// "<orderId>" (optional), "limit": 1..1000 (optional, default 500)} and
// answers an events.SnapshotPage. POST /orders/lookup takes {"ids": [1 to
// 1000 order ids]} and answers {"orders": [{"orderId", "userId",
// "amountCents"}]}, the ids that are orders. GET /orders/{id}/journey
// answers {"orderId", "status", "statusName", "createdAt", "publishedAt",
// "statusAppliedAt"}, the last two null until they happened, for any
// user's order, and 404 for no such order. When the database went away
// while POST /orders stored the order, it answers 503 outcome_unknown: the
// order may or may not exist, and a retry with the same Idempotency-Key
// tells.
func NewHandler(svc *Service, signer *auth.Signer) *auth.Routes {
	h := &handler{svc: svc}
	rt := auth.NewRoutes(signer, svc.log, svc.outbox.ReadyChecks())
	rt.HandleFunc("POST /orders", auth.Shopper, h.create)
	rt.HandleFunc("GET /orders", auth.Shopper, auth.ListOwn("orders", 50, 100, svc.List))
	rt.HandleFunc("GET /orders/{id}", auth.Shopper, auth.GetOwnByID("id", svc.Get))
	rt.HandleFunc("POST /orders/snapshots", auth.ServiceOrOperator, h.snapshots)
	rt.HandleFunc("POST "+ordercheck.Path, auth.ServiceOrOperator, h.lookup)
	rt.HandleFunc("GET /orders/{id}/journey", auth.Operator, web.GetByID("id", svc.Journey))
	return rt
}

type handler struct{ svc *Service }

// maxBody bounds a create-order request: 50 items fit in far less.
const maxBody = 16 << 10

// maxKeyLen bounds an Idempotency-Key.
const maxKeyLen = 128

func (h *handler) create(w http.ResponseWriter, r *http.Request) error {
	id := auth.MustFromContext(r.Context())
	var req CreateRequest
	if err := web.DecodeJSON(r, maxBody, &req); err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	o, created, err := h.svc.Create(r.Context(), id, req, key)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/orders/"+o.ID)
	web.WriteJSON(w, status, o)
	return nil
}

// idempotencyKey returns r's Idempotency-Key header, "" when there is
// none. It must be text of at most maxKeyLen bytes without control
// characters: it is stored with the order.
func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if web.CheckText("Idempotency-Key", key, maxKeyLen) != nil {
		return "", errs.Invalid("invalid_idempotency_key", "Idempotency-Key must be UTF-8 text of at most %d bytes without control characters", maxKeyLen)
	}
	return key, nil
}

// snapshotRequest is the body of POST /orders/snapshots.
type snapshotRequest struct {
	After string `json:"after"`
	Limit int    `json:"limit"`
}

func (h *handler) snapshots(w http.ResponseWriter, r *http.Request) error {
	var req snapshotRequest
	if err := web.DecodeJSON(r, 1<<10, &req); err != nil {
		return err
	}
	if req.After != "" && !web.ValidID(req.After) {
		return errs.Invalid("invalid_after", "after must be an order id")
	}
	if req.Limit == 0 {
		req.Limit = DefaultSnapshotPage
	}
	page, err := h.svc.PublishSnapshots(r.Context(), req.After, req.Limit)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, page)
	return nil
}

// lookupRequest is the body of POST /orders/lookup.
type lookupRequest struct {
	IDs []string `json:"ids"`
}

// maxLookupBody bounds a lookup request: ordercheck.MaxIDs ids of
// web.MaxIDLen bytes, quoted and separated.
const maxLookupBody = ordercheck.MaxIDs*(web.MaxIDLen+3) + 16

func (h *handler) lookup(w http.ResponseWriter, r *http.Request) error {
	var req lookupRequest
	if err := web.DecodeJSON(r, maxLookupBody, &req); err != nil {
		return err
	}
	orders, err := h.svc.Lookup(r.Context(), req.IDs)
	if err != nil {
		return err
	}
	if orders == nil {
		orders = []ordercheck.Order{} // "orders": [], not null
	}
	web.WriteJSON(w, http.StatusOK, map[string][]ordercheck.Order{"orders": orders})
	return nil
}
