package payments

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"streamcart/internal/events"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/stream"
)

// handle is the batch handler of the orders stream. It is all or nothing,
// as stream.BatchHandler requires: a malformed OrderPlaced fails the whole
// batch with a permanent error, and the consumer then hands the entries
// back one at a time, which dead-letters just that one.
func (s *Service) handle(ctx context.Context, msgs []stream.Message) error {
	batch, err := events.ParsePlaced(msgs)
	if err != nil || len(batch) == 0 {
		return err // a parse error is permanent already
	}
	err = s.pay(ctx, batch)
	if postgres.IsUnavailable(err) {
		// The consumer retries the batch for as long as the outage lasts.
		return stream.Unavailable(err)
	}
	return err
}

// pay charges the orders of batch whose events are new, in one
// transaction, and writes one PaymentProcessed per new event into the
// outbox: of the payment it made, or of the one the order already had.
func (s *Service) pay(ctx context.Context, batch []events.Placed) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pay orders: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit

	ids := make([]string, len(batch))
	for i, p := range batch {
		ids[i] = p.EventID
	}
	fresh, err := outbox.Dedupe(ctx, tx, Schema, ids)
	if err != nil {
		return fmt.Errorf("pay orders: %w", err)
	}
	todo := make([]events.Placed, 0, len(fresh))
	planned := make(map[string]bool, len(fresh))
	var charges []Payment
	for _, p := range batch {
		if !fresh[p.EventID] {
			continue
		}
		delete(fresh, p.EventID) // the same event twice in one batch counts once
		todo = append(todo, p)
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
	if len(todo) == 0 {
		return nil // every event was handled before; nothing to commit
	}

	byOrder, err := insertPayments(ctx, tx, charges)
	if err != nil {
		return fmt.Errorf("pay orders: %w", err)
	}
	created := len(byOrder)
	if created < len(charges) {
		if err := s.addExisting(ctx, tx, charges, byOrder); err != nil {
			return fmt.Errorf("pay orders: %w", err)
		}
	}

	msgs := make([]*outbox.Message, len(todo))
	for i, p := range todo {
		e := byOrder[p.Order.OrderID].processed().Event()
		e.TraceParent = p.TraceParent
		msgs[i] = &outbox.Message{Stream: s.cfg.PaymentsStream, Event: e}
	}
	if err := s.outbox.Add(ctx, tx, msgs...); err != nil {
		return fmt.Errorf("pay orders: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pay orders: commit: %w", err)
	}
	s.outbox.Kick()
	s.log.DebugContext(ctx, "orders paid", "events", len(todo), "created", created, "announced_again", len(todo)-created)
	return nil
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
