package orders

import (
	"log/slog"
	"net/http"
	"strconv"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// maxBody bounds a create-order request: 50 items fit in far less.
const maxBody = 16 << 10

// NewHandler returns the service's HTTP API. Every /orders route requires
// an identity signed by the gateway (signer); /healthz and /readyz do not.
//
//	POST /orders          create an order (optional Idempotency-Key header)
//	GET  /orders          the user's orders, newest first (?limit=1..100)
//	GET  /orders/{id}     one of the user's orders
func NewHandler(svc *Service, signer *auth.Signer, log *slog.Logger) http.Handler {
	h := &handler{svc: svc}
	mux := http.NewServeMux()
	mux.Handle("POST /orders", signer.Require(web.Handle(log, h.create)))
	mux.Handle("GET /orders", signer.Require(web.Handle(log, h.list)))
	mux.Handle("GET /orders/{id}", signer.Require(web.Handle(log, h.get)))
	web.CatchAll(mux)
	web.Health(mux, svc.Ready())
	return web.WithRequestID(web.AccessLog(log, mux))
}

type handler struct{ svc *Service }

func (h *handler) create(w http.ResponseWriter, r *http.Request) error {
	id, _ := auth.FromContext(r.Context())
	var req CreateRequest
	if err := web.DecodeJSON(r, maxBody, &req); err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 128 {
		return errs.Invalid("invalid_idempotency_key", "Idempotency-Key is longer than 128 characters")
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

func (h *handler) get(w http.ResponseWriter, r *http.Request) error {
	id, _ := auth.FromContext(r.Context())
	o, err := h.svc.Get(r.Context(), id.UserID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, o)
	return nil
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) error {
	id, _ := auth.FromContext(r.Context())
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errs.Invalid("invalid_limit", "limit must be a whole number from 1 to 100, got %q", v)
		}
		limit = n
	}
	orders, err := h.svc.List(r.Context(), id.UserID, limit)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string][]Order{"orders": orders})
	return nil
}
