package cart

import (
	"context"
	"fmt"
	"time"

	"streamcart/internal/platform/errs"
	"streamcart/internal/stream"
)

// msgUnavailable is what a shopper is told when Redis fails.
const msgUnavailable = "the cart is unavailable; try again shortly"

func (s *Service) key(userID string) string { return s.cfg.KeyPrefix + "cart:" + userID }

// load reads the user's cart and restarts its TTL, in one round trip.
func (s *Service) load(ctx context.Context, userID string) (cart, error) {
	key := s.key(userID)
	pipe := s.rdb.TxPipeline()
	fields := pipe.HGetAll(ctx, key)
	pipe.Expire(ctx, key, s.cfg.TTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return cart{}, errs.Unavailable(fmt.Errorf("load cart: %w", err), msgUnavailable)
	}
	return parseCart(fields.Val()), nil
}

// putLine sets a line's qty and seen price, keeping when it was added.
func (s *Service) putLine(ctx context.Context, userID, productID string, qty int, priceCents int64) error {
	key := s.key(userID)
	pipe := s.rdb.TxPipeline()
	pipe.HSetNX(ctx, key, idField, stream.NewID())
	pipe.HSet(ctx, key, qtyPrefix+productID, qty, pricePrefix+productID, priceCents)
	pipe.HSetNX(ctx, key, addedPrefix+productID, time.Now().UnixMilli())
	pipe.HIncrBy(ctx, key, versionField, 1)
	pipe.Expire(ctx, key, s.cfg.TTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return errs.Unavailable(fmt.Errorf("put cart line: %w", err), msgUnavailable)
	}
	return nil
}

// removeLines removes the lines of productIDs.
func (s *Service) removeLines(ctx context.Context, userID string, productIDs ...string) error {
	key := s.key(userID)
	fields := make([]string, 0, 3*len(productIDs))
	for _, id := range productIDs {
		fields = append(fields, qtyPrefix+id, pricePrefix+id, addedPrefix+id)
	}
	pipe := s.rdb.TxPipeline()
	pipe.HDel(ctx, key, fields...)
	pipe.HIncrBy(ctx, key, versionField, 1)
	pipe.Expire(ctx, key, s.cfg.TTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return errs.Unavailable(fmt.Errorf("remove cart lines: %w", err), msgUnavailable)
	}
	return nil
}

// notePrices records the prices the shopper was just shown, for lines
// still in the cart.
func (s *Service) notePrices(ctx context.Context, userID string, prices map[string]int64) error {
	args := make([]any, 0, 2*len(prices))
	for id, p := range prices {
		args = append(args, pricePrefix+id, p)
	}
	if err := s.rdb.HSet(ctx, s.key(userID), args...).Err(); err != nil {
		return errs.Unavailable(fmt.Errorf("note cart prices: %w", err), msgUnavailable)
	}
	return nil
}

// drop deletes the user's cart.
func (s *Service) drop(ctx context.Context, userID string) error {
	if err := s.rdb.Del(ctx, s.key(userID)).Err(); err != nil {
		return errs.Unavailable(fmt.Errorf("delete cart: %w", err), msgUnavailable)
	}
	return nil
}
