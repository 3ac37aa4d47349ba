package payments

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/web"
)

// NewHandler returns the service's HTTP API:
//
//	GET /payments/{orderId}   the order's payment, or 404 while it has none
//	GET /healthz, /readyz     liveness; PostgreSQL and Redis readiness
//
// A payment is {"paymentId", "orderId", "userId", "amountCents", "status",
// "statusName", "reason", "createdAt"}, with status the numeric order
// status (4 or -4) and statusName its name. Errors are JSON
// {"error": {"code", "message"}}.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /payments/{orderId}", web.Handle(log, func(w http.ResponseWriter, r *http.Request) error {
		p, err := svc.Get(r.Context(), r.PathValue("orderId"))
		if err != nil {
			return httpError(err)
		}
		web.WriteJSON(w, http.StatusOK, toJSON(p))
		return nil
	}))
	web.CatchAll(mux)
	web.Health(mux, map[string]web.Check{
		"postgres": svc.pool.Ping,
		"redis":    func(ctx context.Context) error { return svc.rdb.Ping(ctx).Err() },
	})
	return web.WithRequestID(web.AccessLog(log, mux))
}

// httpError maps the service's errors to web errors. It is the only place
// that does.
func httpError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		e := errs.NotFound("", "no payment for this order")
		e.Err = err
		return e
	case postgres.IsUnavailable(err):
		return errs.Unavailable(err, "payments are unavailable; try again later")
	default:
		return err
	}
}

// paymentJSON is a Payment on the wire.
type paymentJSON struct {
	PaymentID   string    `json:"paymentId"`
	OrderID     string    `json:"orderId"`
	UserID      string    `json:"userId"`
	AmountCents int64     `json:"amountCents"`
	Status      int       `json:"status"`
	StatusName  string    `json:"statusName"`
	Reason      string    `json:"reason"`
	CreatedAt   time.Time `json:"createdAt"`
}

func toJSON(p Payment) paymentJSON {
	return paymentJSON{
		PaymentID:   p.ID,
		OrderID:     p.OrderID,
		UserID:      p.UserID,
		AmountCents: p.AmountCents,
		Status:      int(p.Status),
		StatusName:  p.Status.String(),
		Reason:      p.Reason,
		CreatedAt:   p.CreatedAt,
	}
}
