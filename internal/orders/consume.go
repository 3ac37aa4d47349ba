package orders

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"streamcart/internal/events"
	"streamcart/internal/outbox"
	"streamcart/internal/stream"
)

// payment is a PaymentProcessed event with its event id.
type payment struct {
	eventID string
	events.PaymentProcessed
}

// handlePayments is the batch handler of the payments stream. It applies
// the batch's PaymentProcessed events with outbox.Apply, in one
// transaction, and ignores every other event type. A malformed event fails
// the whole batch with a permanent error; the consumer then hands the
// entries back one at a time, which dead-letters just that one.
func (s *Service) handlePayments(ctx context.Context, msgs []stream.Message) error {
	batch, err := events.ParseAll(msgs, events.TypePaymentProcessed, func(m stream.Message) (payment, error) {
		p, err := events.ParsePaymentProcessed(m)
		return payment{eventID: m.ID, PaymentProcessed: p}, err
	})
	if err != nil {
		return err // permanent: the consumer isolates and dead-letters it
	}
	// The orders this batch made final, by status, counted once committed.
	final := map[events.Status]int{}
	err = outbox.Apply(ctx, s.outbox, batch, func(p payment) string { return p.eventID },
		func(ctx context.Context, tx pgx.Tx, fresh []payment) ([]*outbox.Message, error) {
			clear(final) // a retry of the effect starts afresh
			return s.applyPayments(ctx, tx, fresh, final)
		})
	if err == nil {
		for status, n := range final {
			s.cfg.Metrics.Final(status.String(), n)
		}
	}
	return err
}

// applyPayments moves the orders of fresh, the payment events not seen
// before, to their outcome as part of tx (see outbox.Apply), and adds to
// final how many it moved to each status. It announces nothing. A payment
// for an order that does not exist is a permanent error.
func (s *Service) applyPayments(ctx context.Context, tx pgx.Tx, fresh []payment, final map[events.Status]int) ([]*outbox.Message, error) {
	updates := make([]paymentUpdate, len(fresh))
	for i, p := range fresh {
		updates[i] = paymentUpdate{orderID: p.OrderID, status: p.Status, paymentID: p.PaymentID}
	}
	changed, err := applyPayments(ctx, tx, updates)
	if err != nil {
		return nil, err
	}
	counted := make(map[string]bool, len(changed)) // an order may be paid twice in a batch
	for _, u := range updates {
		if changed[u.orderID] && !counted[u.orderID] {
			counted[u.orderID] = true
			final[u.status]++
		}
	}
	if len(changed) == len(updates) {
		return nil, nil
	}
	// Some were no-ops: duplicates or late entries for final orders,
	// or payments for orders that do not exist.
	ids := make([]string, len(updates))
	for i, u := range updates {
		ids[i] = u.orderID
	}
	exist, err := lookupOrders(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	for _, u := range updates {
		if _, ok := exist[u.orderID]; !ok {
			return nil, stream.Permanent(fmt.Errorf("payment %s is for unknown order %s", u.paymentID, u.orderID))
		}
	}
	return nil, nil
}
