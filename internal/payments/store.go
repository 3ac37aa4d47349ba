package payments

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"streamcart/internal/events"
)

// querier is what the queries need: a pool or a transaction.
//
// Lookups by a set of keys (= ANY($1)) pass pgx.QueryExecModeExec: an
// unnamed statement, planned for its arguments each time. A prepared one
// soon gets a generic plan, and a generic plan made while the table was
// nearly empty is a sequential scan that PostgreSQL keeps after the table
// has grown (seen under load: 4 ms instead of 0.1 ms a batch).
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const paymentColumns = `payment_id, order_id, user_id, amount_cents, status, reason, created_at`

// insertPayments inserts ps in one statement, skipping those whose order
// already has a payment, and returns the inserted ones by order id with
// their creation time. ps must not hold an order twice.
func insertPayments(ctx context.Context, tx pgx.Tx, ps []Payment) (map[string]Payment, error) {
	if len(ps) == 0 {
		return map[string]Payment{}, nil
	}
	var (
		ids, orders, users, reasons = make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps))
		amounts                     = make([]int64, len(ps))
		statuses                    = make([]int16, len(ps))
	)
	for i, p := range ps {
		ids[i], orders[i], users[i], reasons[i] = p.ID, p.OrderID, p.UserID, p.Reason
		amounts[i], statuses[i] = p.AmountCents, int16(p.Status)
	}
	rows, err := tx.Query(ctx, `INSERT INTO payments.payments (payment_id, order_id, user_id, amount_cents, status, reason)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::smallint[], $6::text[])
		ON CONFLICT (order_id) DO NOTHING
		RETURNING `+paymentColumns,
		ids, orders, users, amounts, statuses, reasons)
	if err != nil {
		return nil, fmt.Errorf("insert payments: %w", err)
	}
	inserted, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("insert payments: %w", err)
	}
	byOrder := make(map[string]Payment, len(inserted))
	for _, p := range inserted {
		byOrder[p.OrderID] = p
	}
	return byOrder, nil
}

// paymentsByOrder returns the payments of the given orders, those that
// have one, in no particular order.
func paymentsByOrder(ctx context.Context, q querier, orderIDs []string) ([]Payment, error) {
	rows, err := q.Query(ctx, `SELECT `+paymentColumns+` FROM payments.payments WHERE order_id = ANY($1)`, pgx.QueryExecModeExec, orderIDs)
	if err != nil {
		return nil, err
	}
	return collect(rows)
}

// collect scans rows of paymentColumns and closes them.
func collect(rows pgx.Rows) ([]Payment, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Payment, error) {
		var (
			p      Payment
			status int16
		)
		err := row.Scan(&p.ID, &p.OrderID, &p.UserID, &p.AmountCents, &status, &p.Reason, &p.CreatedAt)
		p.Status = events.Status(status)
		return p, err
	})
}
