package orderhistory

import (
	"context"
	"fmt"
	"time"

	"streamcart/internal/stream"
)

// rebuildPage is how many entries Rebuild reads, and merges, per round
// trip.
const rebuildPage = 1000

// Rebuild recreates the model from nothing: it deletes every key of the
// model (SCAN by prefix, UNLINK) and replays the three streams from their
// first entry (XRANGE in pages, outside the consumer groups) through the
// same merge as the consumers, without announcing anything on the updates
// channels. Entries that the consumers would dead-letter (malformed
// events, a user that contradicts the record) are skipped and counted.
//
// The consumers may keep running meanwhile: an entry they apply during the
// rebuild is either replayed too, which changes nothing, or appended after
// the replay passed it, which they apply. Readers, though, see a partial
// model until Rebuild returns. Only what the streams still hold is rebuilt;
// see the package documentation on retention.
func (s *Service) Rebuild(ctx context.Context) error {
	start := time.Now()
	deleted, err := s.deleteModel(ctx)
	if err != nil {
		return fmt.Errorf("rebuild order history: %w", err)
	}
	var entries, skipped int
	for _, name := range s.cfg.streams() {
		n, sk, err := s.replay(ctx, name)
		entries += n
		skipped += sk
		if err != nil {
			return fmt.Errorf("rebuild order history: %w", err)
		}
	}
	s.log.InfoContext(ctx, "order history rebuilt", "keys_deleted", deleted,
		"entries", entries, "skipped", skipped, "took", time.Since(start))
	return nil
}

// deleteModel unlinks every key of the model and returns how many it did.
func (s *Service) deleteModel(ctx context.Context) (int, error) {
	var n int
	for _, kind := range []string{"order:", "user:"} {
		pattern := globEscape(s.cfg.KeyPrefix+kind) + "*"
		iter := s.rdb.Scan(ctx, 0, pattern, rebuildPage).Iterator()
		batch := make([]string, 0, rebuildPage)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			if err := s.rdb.Unlink(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("unlink %d keys: %w", len(batch), err)
			}
			n += len(batch)
			batch = batch[:0]
			return nil
		}
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return n, fmt.Errorf("scan %s: %w", pattern, err)
		}
		if err := flush(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// replay merges every entry of stream name, page by page, and returns how
// many entries it read and how many of them it skipped.
func (s *Service) replay(ctx context.Context, name string) (entries, skipped int, err error) {
	for from := "-"; ; {
		page, err := s.rdb.XRangeN(ctx, name, from, "+", rebuildPage).Result()
		if err != nil {
			return entries, skipped, fmt.Errorf("read %s from %s: %w", name, from, err)
		}
		entries += len(page)
		calls := make([]mergeCall, 0, len(page))
		for _, xm := range page {
			m, err := stream.Decode(name, xm)
			var c mergeCall
			ok := false
			if err == nil {
				c, ok, err = s.mergeFor(m, false)
			}
			if err != nil {
				s.log.WarnContext(ctx, "skipping entry that does not parse", "stream", name, "id", xm.ID, "err", err)
				skipped++
				continue
			}
			if ok {
				calls = append(calls, c)
			}
		}
		sk, err := s.mergeSkipping(ctx, name, calls)
		skipped += sk
		if err != nil {
			return entries, skipped, err
		}
		if len(page) < rebuildPage {
			return entries, skipped, nil
		}
		from = "(" + page[len(page)-1].ID
	}
}

// mergeSkipping merges calls and, when the batch fails with a permanent
// error, merges them one at a time, skipping those that fail so. It
// returns how many it skipped.
func (s *Service) mergeSkipping(ctx context.Context, name string, calls []mergeCall) (int, error) {
	if len(calls) == 0 {
		return 0, nil
	}
	_, err := s.merge(ctx, calls)
	if err == nil || !stream.IsPermanent(err) {
		return 0, err
	}
	skipped := 0
	for _, c := range calls {
		_, err := s.merge(ctx, []mergeCall{c})
		switch {
		case err == nil:
		case stream.IsPermanent(err):
			s.log.WarnContext(ctx, "skipping entry the consumers would dead-letter", "stream", name, "order_id", c.orderID, "err", err)
			skipped++
		default:
			return skipped, err
		}
	}
	return skipped, nil
}
