package payments

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/outbox"
	"streamcart/internal/stream"
)

// handle is the batch handler of the orders stream. It is all or nothing,
// as stream.BatchHandler requires: a malformed OrderPlaced, or one whose
// order the orders service does not have as the event says, fails the
// whole batch with a permanent error, and the consumer then hands the
// entries back one at a time, which dead-letters just that one.
func (s *Service) handle(ctx context.Context, msgs []stream.Message) error {
	batch, err := events.ParsePlaced(msgs, s.cfg.OrderKey)
	if err != nil || len(batch) == 0 {
		return err // a parse error is permanent already
	}
	if err := ordercheck.Check(ctx, s.cfg.Orders, batch); err != nil {
		return err // permanent for a refused order, Unavailable when orders cannot tell
	}
	return outbox.Apply(ctx, s.outbox, batch, func(p events.Placed) string { return p.EventID }, s.pay)
}

// pay charges the orders of fresh, the OrderPlaced events not handled
// before, as part of tx (see outbox.Apply), and returns one
// PaymentProcessed per event: of the payment it made, or of the one the
// order already had.
func (s *Service) pay(ctx context.Context, tx pgx.Tx, fresh []events.Placed) ([]*outbox.Message, error) {
	planned := make(map[string]bool, len(fresh))
	var charges []Payment
	for _, p := range fresh {
		if planned[p.Order.OrderID] {
			continue // the first event of an order in the batch decides
		}
		planned[p.Order.OrderID] = true
		status, reason := decide(p.Order.AmountCents, s.cfg.FailAbove)
		charges = append(charges, Payment{
			ID:          stream.NewID(),
			OrderID:     p.Order.OrderID,
			UserID:      p.Order.UserID,
			AmountCents: p.Order.AmountCents,
			Status:      status,
			Reason:      reason,
		})
	}

	byOrder, err := insertPayments(ctx, tx, charges)
	if err != nil {
		return nil, fmt.Errorf("pay orders: %w", err)
	}
	created := len(byOrder)
	if created < len(charges) {
		if err := s.addExisting(ctx, tx, charges, byOrder); err != nil {
			return nil, fmt.Errorf("pay orders: %w", err)
		}
	}

	msgs := outbox.On(s.cfg.PaymentsStream, events.Answer(fresh, func(o events.OrderPlaced) stream.Event {
		return byOrder[o.OrderID].processed().Event()
	}))
	s.log.DebugContext(ctx, "paying orders", "events", len(fresh), "created", created, "announced_again", len(fresh)-created)
	return msgs, nil
}

// addExisting adds to byOrder the payments that orders of charges already
// had. It runs as a statement of its own, after the insert, so that it
// sees a payment that a concurrent transaction committed meanwhile (the
// insert waited for it and skipped the order).
func (s *Service) addExisting(ctx context.Context, tx pgx.Tx, charges []Payment, byOrder map[string]Payment) error {
	var missing []string
	for _, c := range charges {
		if _, ok := byOrder[c.OrderID]; !ok {
			missing = append(missing, c.OrderID)
		}
	}
	existing, err := paymentsByOrder(ctx, tx, missing)
	if err != nil {
		return fmt.Errorf("read existing payments: %w", err)
	}
	for _, p := range existing {
		byOrder[p.OrderID] = p
	}
	for _, id := range missing {
		if _, ok := byOrder[id]; !ok {
			return fmt.Errorf("order %s: payment neither inserted nor found", id)
		}
	}
	return nil
}
