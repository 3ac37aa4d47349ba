package payments

import (
	"time"

	"streamcart/internal/events"
	"streamcart/internal/money"
	"streamcart/internal/platform/errs"
)

// ErrNotFound means no payment exists for the requested order. The
// Service returns it wrapped; callers test for it with errors.Is. Clients
// see code "not_found".
var ErrNotFound = errs.NotFound("not_found", "no payment for this order")

// DefaultFailAbove is the default payment limit in cents: 1000.00.
const DefaultFailAbove int64 = 100_000

// Payment is the outcome of charging one order. There is at most one
// payment per order, and it never changes once made.
type Payment struct {
	// ID is the payment's UUIDv7.
	ID      string
	OrderID string
	UserID  string
	// AmountCents is the order's amount, in cents.
	AmountCents int64
	// Status is events.StatusPaymentSuccess or events.StatusPaymentFail.
	Status events.Status
	// Reason says why the payment failed; it is empty on success.
	Reason    string
	CreatedAt time.Time
}

// processed returns the event that announces p.
func (p Payment) processed() events.PaymentProcessed {
	return events.PaymentProcessed{
		OrderID:     p.OrderID,
		PaymentID:   p.ID,
		UserID:      p.UserID,
		Status:      p.Status,
		AmountCents: p.AmountCents,
		Reason:      p.Reason,
	}
}

// decide is the payment rule of the package documentation: an amount above
// failAbove cents fails, any other succeeds.
func decide(amountCents, failAbove int64) (status events.Status, reason string) {
	if amountCents > failAbove {
		return events.StatusPaymentFail, "amount exceeds the payment limit of " + money.Format(failAbove)
	}
	return events.StatusPaymentSuccess, ""
}
