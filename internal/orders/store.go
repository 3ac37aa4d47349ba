package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/outbox"
)

// The queries of the orders schema. Each takes the transaction or pool to
// run on, so the service decides what is atomic.
//
// Lookups by a set of keys (= ANY($1)) pass pgx.QueryExecModeExec: an
// unnamed statement, planned for its arguments each time. A prepared one
// soon gets a generic plan, and a generic plan made while the table was
// nearly empty is a sequential scan that PostgreSQL keeps after the table
// has grown (seen under load: 4 ms instead of 0.1 ms a batch).

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// insertOrderSQL inserts an order, its items and its events in one
// statement: one round trip and one commit, with no transaction to open.
// When the idempotency key was used before, the order's INSERT returns no
// row and the other two insert nothing. %s is the outbox's INSERT, whose
// arguments are $17 to $23.
const insertOrderSQL = `
	WITH o AS (
		INSERT INTO orders.orders (order_id, user_id, status, amount_cents, currency, idempotency_key, request_hash,
			user_agent, ip, created_by, updated_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $11)
		ON CONFLICT (user_id, idempotency_key) DO NOTHING
		RETURNING 1
	), items AS (
		INSERT INTO orders.order_items (order_id, line, product_id, display_name, qty, price_cents)
		SELECT $1, * FROM unnest($12::smallint[], $13::text[], $14::text[], $15::int[], $16::bigint[])
		WHERE EXISTS (SELECT FROM o)
	), events AS (
		%s
		WHERE EXISTS (SELECT FROM o)
	)
	SELECT count(*) FROM o`

// insertOrder runs insertOrderSQL (built with the outbox's INSERT) for o,
// whose CreatedAt is set, and its events. It reports false when the user
// already used the idempotency key.
func insertOrder(ctx context.Context, q querier, sql string, o *Order, key, hash, userAgent, ip string, events outbox.Rows) (bool, error) {
	var keyArg, hashArg *string
	if key != "" {
		keyArg, hashArg = &key, &hash
	}
	n := len(o.Items)
	lines, ids, names, qtys, prices := make([]int16, n), make([]string, n), make([]string, n), make([]int32, n), make([]int64, n)
	for i, it := range o.Items {
		lines[i], ids[i], names[i], qtys[i], prices[i] = int16(i+1), it.ProductID, it.DisplayName, int32(it.Qty), it.PriceCents
	}
	args := append([]any{
		o.ID, o.UserID, o.Status, o.AmountCents, o.Currency, keyArg, hashArg, userAgent, ip, o.CreatedBy, o.CreatedAt,
		lines, ids, names, qtys, prices,
	}, events.Args()...)
	var inserted int
	if err := q.QueryRow(ctx, sql, args...).Scan(&inserted); err != nil {
		return false, fmt.Errorf("insert order: %w", err)
	}
	return inserted == 1, nil
}

// orderByKey returns the order the user created with an idempotency key,
// and the hash of that request.
func orderByKey(ctx context.Context, q querier, userID, key string) (Order, string, error) {
	var id, hash string
	err := q.QueryRow(ctx, `SELECT order_id, request_hash FROM orders.orders WHERE user_id = $1 AND idempotency_key = $2`,
		userID, key).Scan(&id, &hash)
	if err != nil {
		return Order{}, "", fmt.Errorf("order by idempotency key: %w", err)
	}
	orders, err := loadOrders(ctx, q, `WHERE o.order_id = $1`, id)
	if err != nil {
		return Order{}, "", fmt.Errorf("order by idempotency key: %w", err)
	}
	if len(orders) == 0 {
		return Order{}, "", fmt.Errorf("order %s by idempotency key: %w", id, ErrNotFound)
	}
	return orders[0], hash, nil
}

const orderColumns = `o.order_id, o.user_id, o.status, o.amount_cents, o.currency, coalesce(o.payment_id, ''),
	o.created_at, o.updated_at, o.created_by, o.updated_by`

// loadOrders returns the orders that where (a condition on alias o, with
// its arguments and clauses) selects, with their items, in that order.
func loadOrders(ctx context.Context, q querier, where string, args ...any) ([]Order, error) {
	rows, err := q.Query(ctx, `SELECT `+orderColumns+` FROM orders.orders o `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("load orders: %w", err)
	}
	orders, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Order, error) {
		var o Order
		err := row.Scan(&o.ID, &o.UserID, &o.Status, &o.AmountCents, &o.Currency, &o.PaymentID,
			&o.CreatedAt, &o.UpdatedAt, &o.CreatedBy, &o.UpdatedBy)
		o.StatusName = o.Status.String()
		o.Items = []Item{}
		return o, err
	})
	if err != nil || len(orders) == 0 {
		return orders, err
	}
	ids := make([]string, len(orders))
	byID := make(map[string]*Order, len(orders))
	for i := range orders {
		ids[i] = orders[i].ID
		byID[orders[i].ID] = &orders[i]
	}
	rows, err = q.Query(ctx, `SELECT order_id, product_id, display_name, qty, price_cents
		FROM orders.order_items WHERE order_id = ANY($1) ORDER BY order_id, line`, pgx.QueryExecModeExec, ids)
	if err != nil {
		return nil, fmt.Errorf("load order items: %w", err)
	}
	var (
		orderID string
		it      Item
	)
	_, err = pgx.ForEachRow(rows, []any{&orderID, &it.ProductID, &it.DisplayName, &it.Qty, &it.PriceCents}, func() error {
		it.LineCents = it.PriceCents * int64(it.Qty)
		byID[orderID].Items = append(byID[orderID].Items, it)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load order items: %w", err)
	}
	return orders, nil
}

// paymentUpdate is a payment outcome to apply to an order.
type paymentUpdate struct {
	orderID   string
	status    events.Status
	paymentID string
}

// applyPayments sets the outcome of each order that is not final yet, in
// one statement, and returns the ids of the orders it changed. Orders that
// are already final are left alone: transitions only move forward.
func applyPayments(ctx context.Context, tx pgx.Tx, updates []paymentUpdate) (map[string]bool, error) {
	ids, statuses, payments := make([]string, len(updates)), make([]int16, len(updates)), make([]string, len(updates))
	for i, u := range updates {
		ids[i], statuses[i], payments[i] = u.orderID, int16(u.status), u.paymentID
	}
	rows, err := tx.Query(ctx, `
		UPDATE orders.orders o
		SET status = v.status, payment_id = v.payment_id, updated_at = now(), updated_by = 'payments'
		FROM unnest($1::text[], $2::smallint[], $3::text[]) AS v(order_id, status, payment_id)
		WHERE o.order_id = v.order_id AND o.status NOT IN (4, -4)
		RETURNING o.order_id`, ids, statuses, payments)
	if err != nil {
		return nil, fmt.Errorf("apply payments: %w", err)
	}
	changed := map[string]bool{}
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { changed[id] = true; return nil })
	if err != nil {
		return nil, fmt.Errorf("apply payments: %w", err)
	}
	return changed, nil
}

// lookupOrders returns the orders among ids, with their user and amount,
// by id.
func lookupOrders(ctx context.Context, q querier, ids []string) (map[string]ordercheck.Order, error) {
	rows, err := q.Query(ctx, `SELECT order_id, user_id, amount_cents FROM orders.orders WHERE order_id = ANY($1)`, pgx.QueryExecModeExec, ids)
	if err != nil {
		return nil, fmt.Errorf("look up orders: %w", err)
	}
	found := map[string]ordercheck.Order{}
	var o ordercheck.Order
	_, err = pgx.ForEachRow(rows, []any{&o.OrderID, &o.UserID, &o.AmountCents}, func() error { found[o.OrderID] = o; return nil })
	if err != nil {
		return nil, fmt.Errorf("look up orders: %w", err)
	}
	return found, nil
}

// stuckOrder is an order that markStuck found waiting for its payment
// outcome, with the checkout details its OrderPlaced carries.
type stuckOrder struct{ id, userAgent, ip string }

// markStuck takes up to limit orders without a payment outcome whose
// OrderPlaced was last written more than after ago, marks it written now
// and returns them. Orders another transaction holds are skipped, so
// replicas reconciling at once take different orders.
func markStuck(ctx context.Context, tx pgx.Tx, after time.Duration, limit int) ([]stuckOrder, error) {
	rows, err := tx.Query(ctx, `
		WITH stuck AS (
			SELECT order_id FROM orders.orders
			WHERE status NOT IN (4, -4) AND published_at < now() - $1::interval
			ORDER BY published_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE orders.orders o SET published_at = now()
		FROM stuck WHERE o.order_id = stuck.order_id
		RETURNING o.order_id, o.user_agent, o.ip`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("mark stuck orders: %w", err)
	}
	stuck, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stuckOrder, error) {
		var o stuckOrder
		return o, r.Scan(&o.id, &o.userAgent, &o.ip)
	})
	if err != nil {
		return nil, fmt.Errorf("mark stuck orders: %w", err)
	}
	return stuck, nil
}
