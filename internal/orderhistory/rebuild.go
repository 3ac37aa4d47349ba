package orderhistory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/platform/errs"
	"streamcart/internal/stream"
)

// rebuildPage is how many entries Rebuild reads, and merges, per round
// trip.
const rebuildPage = 1000

// rebuildLockTTL is how long the rebuild lock outlives its last renewal:
// Rebuild renews it at every page, so only a rebuild that died (or a
// Redis that lost it) lets it lapse, and then the next check rebuilds.
const rebuildLockTTL = 30 * time.Second

// ErrRebuildRunning is the error of Rebuild while another rebuild holds
// the lock: another replica's, or an operator's.
var ErrRebuildRunning = errs.Conflict("rebuild_running", "the order history is being rebuilt already")

// errIncomplete is what readers get while the model is not known to be
// complete: it is being rebuilt, or Redis lost it and the check has not
// noticed yet.
var errIncomplete = errs.Unavailable(nil, "the order history is being rebuilt; try again shortly")

// errLostLock ends a rebuild whose lock is gone: Redis lost its data
// (the rebuild's work with it) or the rebuild stalled past the lock's
// TTL and another may have started.
var errLostLock = errors.New("the rebuild lost its lock (Redis lost its data, or the rebuild stalled); it will run again")

// The scripts of the rebuild lock. Each acts only while the lock still
// holds this rebuild's generation (ARGV[1]).
var (
	// renewScript extends the lock (KEYS[1]) by ARGV[2] milliseconds.
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)
	// completeScript sets the marker (KEYS[2]) to the generation and
	// releases the lock.
	completeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1`)
	// releaseScript releases the lock.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`)
)

// Rebuild recreates the model from nothing and from the system of
// record. Under a lock in Redis, so that one rebuild runs at a time
// (ErrRebuildRunning otherwise), it
//
//  1. deletes the completeness marker: from here on readers get 503
//     (see the package documentation);
//  2. deletes every key of the model (SCAN by prefix, UNLINK);
//  3. has the orders service publish a snapshot of every order, page by
//     page (Config.Snapshots), and merges each page from the snapshots
//     stream: every order, with its status and payment as PostgreSQL has
//     them now;
//  4. replays the three streams, every partition of each, from their
//     first entry (XRANGE in pages, outside the consumer groups), which adds what the snapshots do not
//     have: identity scores, and events newer than the snapshots; the
//     orders of a page's OrderPlaced events are checked with the orders
//     service in one call (Config.Orders), as the consumer checks them;
//  5. sets the marker, with this rebuild's generation, and releases the
//     lock, in one script: readers get complete answers again.
//
// Everything goes through the same merge as the consumers, announcing
// nothing; entries that the consumers would dead-letter are skipped and
// counted. The consumers may keep running meanwhile: an event they apply
// during the rebuild is either replayed too, which changes nothing, or
// appended after the replay passed it, which they apply; an order placed
// after its snapshot page was read has its OrderPlaced on the orders
// stream.
//
// A rebuild that fails leaves the marker unset, so readers keep getting
// 503 and the service's check runs it again (see Run). If Redis loses its
// data during the rebuild, the lock goes with it and the rebuild fails
// rather than mark a partial model complete.
func (s *Service) Rebuild(ctx context.Context) error {
	_, err := s.rebuildLocked(ctx, true)
	return err
}

// rebuildLocked takes the lock and runs the rebuild under it; unless
// always, only if the marker is still missing once the lock is held, so
// that a check that saw it missing does not redo a rebuild that just
// completed. It reports whether it rebuilt.
func (s *Service) rebuildLocked(ctx context.Context, always bool) (bool, error) {
	start := time.Now()
	gen := stream.NewID()
	ok, err := s.rdb.SetNX(ctx, s.lockKey(), gen, rebuildLockTTL).Result()
	if err != nil {
		return false, fmt.Errorf("rebuild order history: take the lock: %w", err)
	}
	if !ok {
		return false, ErrRebuildRunning
	}
	// Release the lock on the way out, even when ctx ended, so that the
	// next rebuild need not wait for it to lapse; a completed rebuild
	// has released it already. A failed release lets it lapse.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = releaseScript.Run(rctx, s.rdb, []string{s.lockKey()}, gen).Err()
	}()
	if !always {
		n, err := s.rdb.Exists(ctx, s.markerKey()).Result()
		if err != nil {
			return false, fmt.Errorf("rebuild order history: check the marker: %w", err)
		}
		if n == 1 {
			return false, nil
		}
	}
	st, err := s.rebuild(ctx, gen)
	if err != nil {
		return false, fmt.Errorf("rebuild order history: %w", err)
	}
	s.log.InfoContext(ctx, "order history rebuilt", "generation", gen, "keys_deleted", st.deleted,
		"snapshots", st.snapshots, "entries", st.entries, "skipped", st.skipped, "took", time.Since(start))
	return true, nil
}

// rebuildStats counts what a rebuild did.
type rebuildStats struct{ deleted, snapshots, entries, skipped int }

// rebuild does the steps of Rebuild, holding the lock as generation gen.
func (s *Service) rebuild(ctx context.Context, gen string) (rebuildStats, error) {
	var st rebuildStats
	if err := s.rdb.Del(ctx, s.markerKey()).Err(); err != nil {
		return st, fmt.Errorf("delete the marker: %w", err)
	}
	deleted, err := s.deleteModel(ctx)
	st.deleted = deleted
	if err != nil {
		return st, err
	}
	for after := ""; ; {
		page, err := s.cfg.Snapshots.PublishSnapshots(ctx, after)
		if err != nil {
			return st, err
		}
		if page.Stream != s.cfg.SnapshotsStream {
			return st, fmt.Errorf("orders published the snapshots to %q, not to %q: configure both with the same stream", page.Stream, s.cfg.SnapshotsStream)
		}
		if page.Orders > 0 {
			n, sk, err := s.replay(ctx, gen, page.Stream, page.FirstEntryID, page.LastEntryID)
			st.snapshots += n
			st.skipped += sk
			if err != nil {
				return st, err
			}
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	// Each stream in turn, every partition of it: the events of one order
	// (one user) are in one partition, and those of different orders need
	// no order among them.
	for _, logical := range s.cfg.streams() {
		for _, name := range stream.Partitions(logical, s.cfg.Consumer.Partitions) {
			n, sk, err := s.replay(ctx, gen, name, "-", "+")
			st.entries += n
			st.skipped += sk
			if err != nil {
				return st, err
			}
		}
	}
	done, err := completeScript.Run(ctx, s.rdb, []string{s.lockKey(), s.markerKey()}, gen).Int()
	if err != nil {
		return st, fmt.Errorf("set the marker: %w", err)
	}
	if done != 1 {
		return st, errLostLock
	}
	return st, nil
}

// renew extends the rebuild lock of generation gen, or fails with
// errLostLock when it is no longer held.
func (s *Service) renew(ctx context.Context, gen string) error {
	ok, err := renewScript.Run(ctx, s.rdb, []string{s.lockKey()}, gen, rebuildLockTTL.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("renew the rebuild lock: %w", err)
	}
	if ok != 1 {
		return errLostLock
	}
	return nil
}

// deleteModel unlinks every key of the model and returns how many it did.
func (s *Service) deleteModel(ctx context.Context) (int, error) {
	// SCAN walks one node: on a cluster, the model's primary.
	var node redis.Cmdable = s.rdb
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		primary, err := c.MasterForKey(ctx, s.markerKey())
		if err != nil {
			return 0, fmt.Errorf("find the model's primary: %w", err)
		}
		node = primary
	}
	var n int
	for _, kind := range []string{"orders:", "user:"} {
		pattern := globEscape(s.cfg.KeyPrefix+modelTag+kind) + "*"
		iter := node.Scan(ctx, 0, pattern, rebuildPage).Iterator()
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

// replay merges the entries of stream name from from to to (XRANGE
// bounds), page by page, renewing the lock of generation gen at each, and
// returns how many entries it read and how many of them it skipped.
func (s *Service) replay(ctx context.Context, gen, name, from, to string) (entries, skipped int, err error) {
	for {
		if err := s.renew(ctx, gen); err != nil {
			return entries, skipped, err
		}
		page, err := s.rdb.XRangeN(ctx, name, from, to, rebuildPage).Result()
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
		calls, sk, err := s.dropRefused(ctx, name, calls)
		skipped += sk
		if err != nil {
			return entries, skipped, err
		}
		sk, err = s.mergeSkipping(ctx, name, calls)
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

// dropRefused returns calls without those of an OrderPlaced whose order
// the orders service does not have as the event says, which the
// consumers dead-letter (ordercheck.Refused, one call for all of them),
// and how many it dropped. It fails when orders cannot tell.
func (s *Service) dropRefused(ctx context.Context, name string, calls []mergeCall) ([]mergeCall, int, error) {
	placed := placedOf(calls)
	if len(placed) == 0 {
		return calls, 0, nil
	}
	orders := make([]events.OrderPlaced, len(placed))
	for i, p := range placed {
		orders[i] = p.Order
	}
	why, err := ordercheck.Refused(ctx, s.cfg.Orders, orders)
	if err != nil {
		return nil, 0, err
	}
	kept, i := calls[:0], 0
	for _, c := range calls {
		if c.placed != nil {
			refused := why[i]
			i++
			if refused != nil {
				s.log.WarnContext(ctx, "skipping entry the consumers would dead-letter", "stream", name, "event_id", c.placed.EventID, "err", refused)
				continue
			}
		}
		kept = append(kept, c)
	}
	return kept, len(calls) - len(kept), nil
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

// EnsureComplete rebuilds the model (Rebuild) when its completeness
// marker is missing: at the first start, or when Redis lost its data. It
// reports whether it rebuilt; when another rebuild is running, it leaves
// the work to it and returns false and nil.
func (s *Service) EnsureComplete(ctx context.Context) (rebuilt bool, err error) {
	n, err := s.rdb.Exists(ctx, s.markerKey()).Result()
	if err != nil {
		return false, fmt.Errorf("check the order history's marker: %w", err)
	}
	if n == 1 {
		return false, nil
	}
	rebuilt, err = s.rebuildLocked(ctx, false)
	if errors.Is(err, ErrRebuildRunning) {
		return false, nil
	}
	return rebuilt, err
}

// failureLogEvery is how often at most watch logs that rebuilding keeps
// failing.
const failureLogEvery = 30 * time.Second

// watch runs EnsureComplete at once and then every CheckInterval until
// ctx is cancelled, so that the model is rebuilt within about
// CheckInterval of Redis losing it, with no operator. A failed rebuild
// (orders or Redis down) is tried again at the next tick, and logged at
// most every failureLogEvery.
func (s *Service) watch(ctx context.Context) error {
	t := time.NewTicker(s.cfg.CheckInterval)
	defer t.Stop()
	var (
		failures int
		logged   time.Time
		complete bool // this process has seen the model complete
	)
	for {
		rebuilt, err := s.EnsureComplete(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			if time.Since(logged) >= failureLogEvery {
				s.log.WarnContext(ctx, "the order history is incomplete and rebuilding it failed; readers get 503 until it succeeds",
					"err", err, "failures", failures, "retry_every", s.cfg.CheckInterval)
				logged = time.Now()
			}
		case rebuilt && !complete:
			s.log.InfoContext(ctx, "the order history had no completeness marker at start (a new deployment, or Redis lost its data); rebuilt it")
		case rebuilt:
			s.log.WarnContext(ctx, "the order history's completeness marker disappeared (Redis lost its data?); rebuilt it", "failures", failures)
		}
		if err == nil {
			failures, logged, complete = 0, time.Time{}, true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Complete reports, as a readiness check, whether the model is known to
// be complete: nil when its marker is set, the error readers get when not.
func (s *Service) Complete(ctx context.Context) error {
	n, err := s.rdb.Exists(ctx, s.markerKey()).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return errIncomplete
	}
	return nil
}
