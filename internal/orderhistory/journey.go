package orderhistory

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"streamcart/internal/events"
)

// Journey is what the order history tells of an order's way through the
// system, with its own clock: the answer of GET /history/{orderId}/journey,
// for the operations page (package ops).
type Journey struct {
	OrderID    string        `json:"orderId"`
	Status     events.Status `json:"status"`
	StatusName string        `json:"statusName"`
	// StatusAt is when the history's record took Status: when the event
	// that told it was merged, live or by the last rebuild. It is nil
	// for records that took their status before the history recorded
	// this.
	StatusAt *time.Time `json:"statusAt"`
}

// Journey returns the journey of order orderID, of whichever user. The
// error wraps ErrNotFound while the history has no record of the order,
// and is Unavailable while the history is not complete (see Get).
func (s *Service) Journey(ctx context.Context, orderID string) (Journey, error) {
	h, err := s.orderFields(ctx, orderID)
	if err != nil {
		return Journey{}, fmt.Errorf("journey of order %s: %w", orderID, err)
	}
	status, ok := h["status"]
	if !ok {
		return Journey{}, fmt.Errorf("journey of order %s: %w", orderID, ErrNotFound)
	}
	code, err := strconv.Atoi(status)
	if err != nil {
		return Journey{}, fmt.Errorf("journey of order %s: corrupt status %q", orderID, status)
	}
	j := Journey{OrderID: orderID, Status: events.Status(code), StatusName: events.Status(code).String()}
	if at, ok := h["statusAt"]; ok {
		t, err := time.Parse(timeLayout, at)
		if err != nil {
			return Journey{}, fmt.Errorf("journey of order %s: corrupt statusAt %q", orderID, at)
		}
		j.StatusAt = &t
	}
	return j, nil
}
