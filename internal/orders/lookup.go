package orders

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"streamcart/internal/ordercheck"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// Lookup returns the orders among ids (1 to ordercheck.MaxIDs order ids),
// each with its user and amount, in order id order; an id that is no
// order is left out. It is the answer of POST /orders/lookup, which the
// consumers of OrderPlaced ask before they pay, score or show an order
// (package ordercheck): the outbox commits an order before its
// OrderPlaced is on the stream, so an order that Lookup leaves out was
// never placed.
func (s *Service) Lookup(ctx context.Context, ids []string) ([]ordercheck.Order, error) {
	if len(ids) < 1 || len(ids) > ordercheck.MaxIDs {
		return nil, errs.Invalid("invalid_ids", "ids must list 1 to %d order ids, not %d", ordercheck.MaxIDs, len(ids))
	}
	for _, id := range ids {
		if !web.ValidID(id) {
			return nil, errs.Invalid("invalid_ids", "ids must be order ids")
		}
	}
	found, err := lookupOrders(ctx, s.pool, ids)
	if err != nil {
		return nil, fmt.Errorf("look up %d orders: %w", len(ids), err)
	}
	return slices.SortedFunc(maps.Values(found), func(a, b ordercheck.Order) int {
		return strings.Compare(a.OrderID, b.OrderID)
	}), nil
}
