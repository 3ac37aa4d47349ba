package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/platform/errs"
)

// Limits of PublishSnapshots.
const (
	DefaultSnapshotPage = 500
	MaxSnapshotPage     = 1000
)

// DefaultSnapshotRetention is the default Config.SnapshotRetention.
const DefaultSnapshotRetention = time.Hour

// PublishSnapshots appends an OrderSnapshot of each of up to limit orders
// (1 to MaxSnapshotPage) whose ids come after after ("" for the first
// page), in order id order, to the snapshots stream, in one round trip,
// and returns where they are (the page). Following Next from "" until it is empty
// publishes every order that existed when the first page was read; an
// order made since has its OrderPlaced on the orders stream anyway.
//
// The snapshots say what PostgreSQL, the system of record, says of each
// order now, signed with the OrderKey. The order history asks for them to
// rebuild itself after Redis lost or trimmed the streams; publishing them
// again changes nothing for it, as it merges every event idempotently.
// They do not go through the outbox: nothing is committed with them, and
// a page that fails is asked for again.
func (s *Service) PublishSnapshots(ctx context.Context, after string, limit int) (events.SnapshotPage, error) {
	page := events.SnapshotPage{Stream: s.cfg.SnapshotsStream}
	if limit < 1 || limit > MaxSnapshotPage {
		return page, errs.Invalid("invalid_limit", "limit must be a whole number from 1 to %d, not %d", MaxSnapshotPage, limit)
	}
	orders, err := loadOrders(ctx, s.pool, `WHERE o.order_id > $1 ORDER BY o.order_id LIMIT $2`, after, limit)
	if err != nil {
		return page, fmt.Errorf("snapshots after %q: %w", after, err)
	}
	if len(orders) == 0 {
		return page, nil
	}
	cmds := make([]*redis.StringCmd, len(orders))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, o := range orders {
			e := snapshotOf(o).Event(s.cfg.OrderKey)
			cmd, err := s.snapshots.Append(ctx, p, s.cfg.SnapshotsStream, &e)
			if err != nil {
				return err
			}
			cmds[i] = cmd
		}
		return nil
	})
	if err != nil {
		return page, fmt.Errorf("publish %d snapshots after %q: %w", len(orders), after, err)
	}
	page.Orders = len(orders)
	page.FirstEntryID, page.LastEntryID = cmds[0].Val(), cmds[len(cmds)-1].Val()
	if len(orders) == limit {
		page.Next = orders[len(orders)-1].ID
	}
	return page, nil
}

// snapshotOf returns the snapshot of o.
func snapshotOf(o Order) events.OrderSnapshot {
	return events.OrderSnapshot{
		Order:  o.event(),
		Status: o.Status, PaymentID: o.PaymentID, UpdatedOn: o.UpdatedAt, UpdatedBy: o.UpdatedBy,
	}
}
