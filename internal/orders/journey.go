package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"streamcart/internal/events"
	"streamcart/internal/stream"
)

// Journey is what the orders service tells of an order's way through the
// system, with its own clock: the answer of GET /orders/{id}/journey, for
// the operations page (package ops), which puts it together with what
// payments and the order history tell.
type Journey struct {
	OrderID    string        `json:"orderId"`
	Status     events.Status `json:"status"`
	StatusName string        `json:"statusName"`
	// CreatedAt is when the order was stored.
	CreatedAt time.Time `json:"createdAt"`
	// PublishedAt is when the outbox relay last sent the order's
	// OrderPlaced to the orders stream, until the order became final;
	// nil before it first did, and for orders placed before the relay
	// recorded it.
	PublishedAt *time.Time `json:"publishedAt"`
	// StatusAppliedAt is when the payment outcome was applied to the
	// order; nil while the order waits for it.
	StatusAppliedAt *time.Time `json:"statusAppliedAt"`
}

// Journey returns the journey of order id, of whichever user: the error
// wraps ErrNotFound when there is no such order.
func (s *Service) Journey(ctx context.Context, id string) (Journey, error) {
	j := Journey{OrderID: id}
	var updatedAt time.Time
	err := s.pool.QueryRow(ctx, `SELECT status, created_at, relayed_at, updated_at FROM orders.orders WHERE order_id = $1`, id).
		Scan(&j.Status, &j.CreatedAt, &j.PublishedAt, &updatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Journey{}, fmt.Errorf("journey of order %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Journey{}, fmt.Errorf("journey of order %s: %w", id, err)
	}
	j.StatusName = j.Status.String()
	// Only the payment outcome updates an order after it was created.
	if j.Status.Final() {
		j.StatusAppliedAt = &updatedAt
	}
	return j, nil
}

// recordRelayed is the outbox's Config.Relayed: it records sentAt as
// when the OrderPlaced events among evs were published, on their orders
// that are not final yet, in the relay's transaction. A repeat that the
// reconciler writes for a waiting order moves the time on; the time of an
// order that has its outcome stays.
func recordRelayed(ctx context.Context, tx pgx.Tx, sentAt time.Time, evs []stream.Event) error {
	var ids []string
	for _, e := range evs {
		if e.Type == events.TypeOrderPlaced && e.Fields["orderId"] != "" {
			ids = append(ids, e.Fields["orderId"])
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE orders.orders SET relayed_at = $1
		WHERE order_id = ANY($2) AND (relayed_at IS NULL OR status NOT IN (4, -4))`,
		pgx.QueryExecModeExec, sentAt, ids)
	if err != nil {
		return fmt.Errorf("record when %d orders were published: %w", len(ids), err)
	}
	return nil
}
