package orders

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	err := s.pool.QueryRow(ctx, `SELECT o.status, o.created_at, r.relayed_at, o.updated_at
		FROM orders.orders o LEFT JOIN orders.relayed r USING (order_id) WHERE o.order_id = $1`, id).
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

// recordPublished is the outbox's Config.Published: it records sentAt, in
// the relay's transaction, as when the OrderPlaced events among evs were
// published, in orders.relayed. A repeat that the reconciler writes for a
// waiting order moves the time on; the time of an order that has its
// outcome stays.
func recordPublished(ctx context.Context, tx pgx.Tx, sentAt time.Time, evs []stream.Event) error {
	var ids []string
	for _, e := range evs {
		if e.Type == events.TypeOrderPlaced && e.Fields["orderId"] != "" {
			ids = append(ids, e.Fields["orderId"])
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// A batch may hold an order twice (the reconciler wrote it again
	// before the relay ran), which one INSERT ... ON CONFLICT DO UPDATE
	// may not touch twice: the relay would fail the batch forever.
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	// The status is looked up only for a repeat (ON CONFLICT), which is
	// rare: the first send is a plain insert into a narrow table.
	_, err := tx.Exec(ctx, `INSERT INTO orders.relayed (order_id, relayed_at) SELECT unnest($1::text[]), $2
		ON CONFLICT (order_id) DO UPDATE SET relayed_at = excluded.relayed_at
		WHERE NOT EXISTS (SELECT FROM orders.orders o WHERE o.order_id = excluded.order_id AND o.status IN (4, -4))`,
		pgx.QueryExecModeExec, ids, sentAt)
	if err != nil {
		return fmt.Errorf("record when %d orders were published: %w", len(ids), err)
	}
	return nil
}
