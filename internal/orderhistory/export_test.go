package orderhistory

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/stream"
)

// MergeBatch merges msgs as a consumer merges a batch, in one run of the
// merge script (up to mergeChunk of them), announcing the changes, but
// without asking orders about them. It returns how many records changed
// and were announced.
func (s *Service) MergeBatch(ctx context.Context, msgs []stream.Message) (announced int, err error) {
	calls := make([]mergeCall, 0, len(msgs))
	for _, m := range msgs {
		c, ok, err := s.mergeFor(m, true)
		if err != nil {
			return 0, err
		}
		if ok {
			calls = append(calls, c)
		}
	}
	return s.merge(ctx, calls)
}

// Stored returns every field of order orderID's record as the model
// stores it, bookkeeping included; none when there is no record.
func (s *Service) Stored(ctx context.Context, orderID string) (map[string]string, error) {
	raw, err := s.rdb.HGet(ctx, s.bucketKey(orderID), orderID).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return recordFields(raw)
}

// BucketKey is the key of the hash that holds order orderID's record.
func (s *Service) BucketKey(orderID string) string { return s.bucketKey(orderID) }
