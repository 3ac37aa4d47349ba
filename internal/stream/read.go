package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// readLoop reads new entries on a connection of its own (so that it can be
// unblocked) and hands them to the workers.
func (c *Consumer) readLoop(ctx context.Context, work chan<- batch, stop <-chan struct{}) {
	var conn *redis.Conn
	size := newReadSize(c.cfg.MinCount, c.cfg.Count)
	var lingered time.Time // when the next read may start, after a short one
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for attempt := 0; ctx.Err() == nil; {
		if conn == nil {
			node, err := nodeFor(ctx, c.rdb, c.cfg.Stream)
			if err != nil {
				attempt++
				c.pause(ctx, "redis unreachable; retrying", err, attempt)
				continue
			}
			conn = node.Conn()
			// The name shows the consumer in CLIENT LIST.
			var idCmd *redis.IntCmd
			_, err = conn.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.ClientSetName(ctx, strings.ReplaceAll(c.cfg.Consumer, " ", "_"))
				idCmd = p.ClientID(ctx)
				return nil
			})
			id := idCmd.Val()
			if err != nil {
				_ = conn.Close()
				conn = nil
				reloadSlots(ctx, c.rdb)
				attempt++
				c.pause(ctx, "redis unreachable; retrying", err, attempt)
				continue
			}
			c.reader.Store(&reader{node: node, id: id})
		}
		if !waitUntil(ctx, lingered) {
			return
		}
		// The read itself must not be cut short by ctx: entries it returns
		// are already delivered to us. Shutdown releases it by CLIENT UNBLOCK.
		// The acks that are due go with it.
		res, err := c.readWithAcks(context.WithoutCancel(ctx), conn, &redis.XReadGroupArgs{
			Group:    c.cfg.Group,
			Consumer: c.cfg.Consumer,
			Streams:  []string{c.cfg.Stream, ">"},
			Count:    size.next(c.readLimit()),
			Block:    c.cfg.Block,
		})
		switch {
		case errors.Is(err, redis.Nil):
			attempt = 0
			size.got(0)
			continue
		case isNoGroup(err):
			c.recreateGroup(ctx)
			continue
		case err != nil:
			_ = conn.Close()
			conn = nil
			c.reader.Store(nil)
			reloadSlots(ctx, c.rdb)
			attempt++
			c.pause(ctx, "read failed; reconnecting", err, attempt)
			continue
		}
		attempt = 0
		n := 0
		for _, s := range res {
			n += len(s.Messages)
		}
		if size.got(n) && c.cfg.Linger > 0 {
			lingered = time.Now().Add(c.cfg.Linger)
		}
		for _, s := range res {
			c.hold(entryIDs(s.Messages)...)
			if !c.dispatch(work, stop, batch{entries: s.Messages}) {
				return
			}
		}
	}
}

// waitUntil waits until t (at once when it has passed) and reports
// whether ctx is still live then.
func waitUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// reader is the connection that blocks in XREADGROUP: the node it is on
// and its CLIENT ID there, so that CLIENT UNBLOCK reaches it.
type reader struct {
	node *redis.Client
	id   int64
}

// nodeFor returns the client of the Redis node that serves key: rdb itself
// for a single Redis, the primary of key's slot in a Redis Cluster.
func nodeFor(ctx context.Context, rdb redis.UniversalClient, key string) (*redis.Client, error) {
	switch r := rdb.(type) {
	case *redis.Client:
		return r, nil
	case *redis.ClusterClient:
		return r.MasterForKey(ctx, key)
	}
	return nil, fmt.Errorf("stream: unsupported redis client %T", rdb)
}

// reloadSlots makes a cluster client read the slots' map again (in the
// background, at most every 200ms) after the reader's node failed or
// answered MOVED: the reader's errors come from a node's own connection,
// which the cluster client does not see, and without a new map nodeFor
// would return a dead primary until the map is a minute old.
func reloadSlots(ctx context.Context, rdb redis.UniversalClient) {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		c.ReloadState(ctx)
	}
}

// decode turns entries into messages. deliveries gives each entry's
// delivery count; nil means first delivery. Entries that are not valid
// envelopes are dead-lettered here and left out.
func (c *Consumer) decode(ctx context.Context, entries []redis.XMessage, deliveries map[string]int64) []Message {
	msgs := make([]Message, 0, len(entries))
	for _, xm := range entries {
		n := int64(1)
		if deliveries != nil {
			n = deliveries[xm.ID]
		}
		e, err := decodeEvent(xm.Values)
		if err != nil {
			c.deadLetter(ctx, xm.ID, rawValues(xm.Values), n, err)
			continue
		}
		msgs = append(msgs, Message{Event: e, Stream: c.cfg.Stream, EntryID: xm.ID, Deliveries: n})
	}
	return msgs
}

// reclaimLoop periodically takes over entries that other consumers (or
// this one, before a restart) left pending for longer than MinIdle, and
// now and then removes the consumers that are gone from the group.
func (c *Consumer) reclaimLoop(ctx context.Context, work chan<- batch, stop <-chan struct{}) {
	tick := time.NewTicker(c.cfg.ClaimInterval)
	defer tick.Stop()
	removeEvery := max(c.cfg.RemoveIdleAfter/10, c.cfg.ClaimInterval)
	nextRemove := time.Now().Add(removeEvery)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !c.reclaim(ctx, work, stop) {
			return
		}
		if now := time.Now(); now.After(nextRemove) {
			c.removeIdleConsumers(ctx)
			nextRemove = now.Add(removeEvery)
		}
	}
}

// reclaim walks the group's pending entries once with XAUTOCLAIM. It
// reports false when the shutdown time ran out.
func (c *Consumer) reclaim(ctx context.Context, work chan<- batch, stop <-chan struct{}) bool {
	start := "0-0"
	for ctx.Err() == nil {
		entries, next, deleted, err := c.rdb.XAutoClaimWithDeleted(ctx, &redis.XAutoClaimArgs{
			Stream:   c.cfg.Stream,
			Group:    c.cfg.Group,
			Consumer: c.cfg.Consumer,
			MinIdle:  c.cfg.MinIdle,
			Start:    start,
			Count:    c.cfg.MinCount,
		}).Result()
		switch {
		case isNoGroup(err):
			c.recreateGroup(ctx)
			return true
		case err != nil:
			if ctx.Err() == nil {
				c.warnOutage(ctx, "reclaim failed", "err", err)
			}
			return true
		}
		if len(deleted) > 0 {
			// Redis has already dropped these from the pending list.
			c.release(deleted...)
			c.log.WarnContext(ctx, "pending entries were trimmed from the stream before they were handled",
				"ids", deleted)
		}
		// Entries this consumer holds went idle only because renewing them
		// failed for a while (Redis was unreachable, the process stalled):
		// they are in its hands already, and not handed out twice.
		entries = slices.DeleteFunc(entries, func(xm redis.XMessage) bool { return c.holds(xm.ID) })
		if len(entries) > 0 {
			c.hold(entryIDs(entries)...)
			counts, err := c.deliveryCounts(ctx, entries)
			if err != nil {
				// They stay pending; released, they go idle and come back.
				c.release(entryIDs(entries)...)
				c.warnOutage(ctx, "reclaim: reading delivery counts failed", "err", err)
				return true
			}
			c.cfg.Metrics.Reclaimed(c.cfg.Stream, c.cfg.Group, len(entries))
			c.log.InfoContext(ctx, "reclaimed idle pending entries", "count", len(entries))
			if !c.dispatch(work, stop, batch{entries: entries, counts: counts, reclaimed: true}) {
				return false
			}
		}
		if next == "0-0" || next == "" {
			return true
		}
		start = next
	}
	return true
}

func entryIDs(entries []redis.XMessage) []string {
	ids := make([]string, len(entries))
	for i, xm := range entries {
		ids[i] = xm.ID
	}
	return ids
}

// deliveryCounts asks XPENDING for each entry's delivery count, in one
// round trip.
func (c *Consumer) deliveryCounts(ctx context.Context, entries []redis.XMessage) (map[string]int64, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.XPendingExtCmd, len(entries))
	for i, xm := range entries {
		cmds[i] = pipe.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: c.cfg.Stream, Group: c.cfg.Group, Start: xm.ID, End: xm.ID, Count: 1,
		})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	counts := make(map[string]int64, len(entries))
	for i, xm := range entries {
		counts[xm.ID] = 1
		if p := cmds[i].Val(); len(p) == 1 {
			counts[xm.ID] = p[0].RetryCount
		}
	}
	return counts, nil
}
