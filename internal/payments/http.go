package payments

import (
	"encoding/json"
	"time"

	"streamcart/internal/platform/auth"
)

// NewHandler returns the service's route table (auth.Routes), whose
// identities signer checks:
//
//	GET /payments/{orderId}   shopper or operator: the order's payment, or
//	                          404 while it has none; a shopper sees only
//	                          their own (another's is 404, as if it had none)
//	GET /readyz               ready when PostgreSQL and Redis answer
//
// A payment is {"paymentId", "orderId", "userId", "amountCents", "status",
// "statusName", "reason", "createdAt"}, with status the numeric order
// status (4 or -4) and statusName its name. The error is not_found while
// the order has no payment or its id is not a valid id.
func NewHandler(svc *Service, signer *auth.Signer) *auth.Routes {
	rt := auth.NewRoutes(signer, svc.log, svc.outbox.ReadyChecks())
	rt.HandleFunc("GET /payments/{orderId}", auth.ShopperOrOperator, auth.GetByID("orderId", svc.Get))
	return rt
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

// MarshalJSON writes p as the API shows it (paymentJSON).
func (p Payment) MarshalJSON() ([]byte, error) {
	return json.Marshal(paymentJSON{
		PaymentID:   p.ID,
		OrderID:     p.OrderID,
		UserID:      p.UserID,
		AmountCents: p.AmountCents,
		Status:      int(p.Status),
		StatusName:  p.Status.String(),
		Reason:      p.Reason,
		CreatedAt:   p.CreatedAt,
	})
}
