package stream

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A consumer holds the entries it has read or taken over until it
// acknowledges or dead-letters them: while they wait for a worker, while
// their handler runs and while they wait for a retry. It renews them like
// a lease, claiming them to itself again every MinIdle/4, so that their
// idle time never reaches MinIdle and no other consumer takes over live
// work however long it takes. When the consumer dies the renewals stop,
// and its entries are taken over MinIdle later.

// holding is the consumer's record of an entry it holds.
type holding struct {
	// deferredSince is when the entry was first deferred (Defer); zero
	// while it has not been.
	deferredSince time.Time
}

// hold records ids as held by this consumer.
func (c *Consumer) hold(ids ...string) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	for _, id := range ids {
		if c.held[id] == nil {
			c.held[id] = &holding{}
		}
	}
}

// release forgets ids: they were acknowledged, dead-lettered, or are no
// longer this consumer's.
func (c *Consumer) release(ids ...string) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	for _, id := range ids {
		delete(c.held, id)
	}
}

// holds reports whether this consumer holds id.
func (c *Consumer) holds(id string) bool {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	return c.held[id] != nil
}

func (c *Consumer) heldIDs() []string {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	return slices.Collect(maps.Keys(c.held))
}

// deferredTooLong records that id is deferred (again) at now and reports
// whether it has been deferred for longer than MaxDeferral in all.
func (c *Consumer) deferredTooLong(id string, now time.Time) bool {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	h := c.held[id]
	if h == nil {
		return false // no longer ours; the claim for its retry drops it
	}
	if h.deferredSince.IsZero() {
		h.deferredSince = now
	}
	return now.Sub(h.deferredSince) > c.cfg.MaxDeferral
}

// leaseLoop renews the held entries every MinIdle/4 until stop is closed.
// It outlives Run's context, since handlers may still finish their work
// after it is cancelled.
func (c *Consumer) leaseLoop(ctx context.Context, stop <-chan struct{}) {
	every := c.cfg.MinIdle / 4
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ids := c.heldIDs()
		if len(ids) == 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		_, err := c.claimOwn(rctx, ids, false)
		cancel()
		if err != nil && !isNoGroup(err) { // on NOGROUP the reader recreates the group
			c.warnOutage(ctx, "renewing held entries failed; they may be taken over", "count", len(ids), "err", err)
		}
	}
}

// claimOwnScript claims the entries of ARGV[4…] to consumer ARGV[2] of
// group ARGV[1] of stream KEYS[1], as far as they are still pending with
// that consumer, and returns their ids. With ARGV[3] "count" the claim
// counts a delivery (a retry); with "justid" it does not (a renewal, or a
// retry that must not count). Checking the owner and claiming in one
// script keeps a consumer that stalled from taking back entries another
// consumer has taken over meanwhile.
//
// The ids come in stream order. The consumer's pending entries between
// the first and the last are read in pages of as many entries as there
// are ids (one XPENDING in all, unless the consumer has entries pending
// that it did not ask about), not one XPENDING per id: a consumer holding
// a backlog renews it at the cost of two commands.
var claimOwnScript = redis.NewScript(`
local want, n = {}, #ARGV - 3
for i = 4, #ARGV do want[ARGV[i]] = true end
local mine = {}
local from = ARGV[4]
while true do
  local page = redis.call('XPENDING', KEYS[1], ARGV[1], from, ARGV[#ARGV], n, ARGV[2])
  for _, e in ipairs(page) do
    if want[e[1]] then mine[#mine + 1] = e[1] end
  end
  if #page < n then break end
  from = '(' .. page[#page][1]
end
if #mine > 0 then
  local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0'}
  for _, id in ipairs(mine) do args[#args + 1] = id end
  if ARGV[3] == 'justid' then args[#args + 1] = 'JUSTID' end
  redis.call(unpack(args))
end
return mine
`)

// compareIDs orders stream entry ids ("<ms>-<seq>") as the stream does.
// An id that does not parse sorts as 0-0.
func compareIDs(a, b string) int {
	parse := func(id string) (ms, seq uint64) {
		m, s, _ := strings.Cut(id, "-")
		ms, _ = strconv.ParseUint(m, 10, 64)
		seq, _ = strconv.ParseUint(s, 10, 64)
		return ms, seq
	}
	am, as := parse(a)
	bm, bs := parse(b)
	if c := cmp.Compare(am, bm); c != 0 {
		return c
	}
	return cmp.Compare(as, bs)
}

// claimOwn claims ids to this consumer again, as far as they are still
// its own, and returns those; the others are released. counted makes the
// claim count a delivery.
func (c *Consumer) claimOwn(ctx context.Context, ids []string, counted bool) (map[string]bool, error) {
	mode := "justid"
	if counted {
		mode = "count"
	}
	mine := make(map[string]bool, len(ids))
	ids = slices.Clone(ids)
	slices.SortFunc(ids, compareIDs)            // the script reads the range between the first and the last
	for chunk := range slices.Chunk(ids, 500) { // Lua's unpack takes a few thousand values at most
		args := make([]any, 0, 3+len(chunk))
		args = append(args, c.cfg.Group, c.cfg.Consumer, mode)
		for _, id := range chunk {
			args = append(args, id)
		}
		got, err := claimOwnScript.Run(ctx, c.rdb, []string{c.cfg.Stream}, args...).StringSlice()
		if err != nil {
			return nil, err
		}
		for _, id := range got {
			mine[id] = true
		}
	}
	var lost []string
	for _, id := range ids {
		if !mine[id] {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		// Acknowledged meanwhile, or taken over while this consumer
		// stalled: either way no longer ours to renew or retry.
		c.release(lost...)
		c.log.DebugContext(ctx, "entries no longer held", "ids", lost)
	}
	return mine, nil
}

// removeIdleScript removes from group ARGV[1] of stream KEYS[1] every
// consumer other than ARGV[3] that has nothing pending and has been idle
// for at least ARGV[2] ms, and returns their names. Reading the consumers
// and removing them in one script keeps a consumer from reading entries
// in between, which XGROUP DELCONSUMER would drop from the pending list.
var removeIdleScript = redis.NewScript(`
local removed = {}
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[3] and f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    removed[#removed + 1] = f['name']
  end
end
return removed
`)

// removeIdleConsumers removes the group's consumers that are gone: idle
// for RemoveIdleAfter with nothing pending.
func (c *Consumer) removeIdleConsumers(ctx context.Context) {
	removed, err := removeIdleScript.Run(ctx, c.rdb, []string{c.cfg.Stream},
		c.cfg.Group, c.cfg.RemoveIdleAfter.Milliseconds(), c.cfg.Consumer).StringSlice()
	switch {
	case err != nil && !isNoGroup(err) && ctx.Err() == nil:
		c.log.WarnContext(ctx, "removing gone consumers failed", "err", err)
	case len(removed) > 0:
		c.log.InfoContext(ctx, "removed consumers gone from the group", "consumers", removed)
	}
}

// logLimiter lets one record through per interval and counts the ones it
// held back.
type logLimiter struct {
	mu    sync.Mutex
	every time.Duration
	last  time.Time
	held  int
}

// allow reports whether a record may be logged at now, and how many were
// held back since the last one that was.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.held++
		return false, 0
	}
	suppressed, l.held, l.last = l.held, 0, now
	return true, suppressed
}

// outageLogEvery is how often a consumer logs a warning about a
// dependency that is down or too slow; it logs the others at Debug.
const outageLogEvery = 5 * time.Second

// warnOutage logs msg at Warn, at most once per outageLogEvery, with the
// number of such records held back since ("suppressed"), and at Debug
// otherwise.
func (c *Consumer) warnOutage(ctx context.Context, msg string, args ...any) {
	ok, suppressed := c.outageLog.allow(time.Now())
	if !ok {
		c.log.DebugContext(ctx, msg, args...)
		return
	}
	c.log.WarnContext(ctx, msg, append(args, "suppressed", suppressed)...)
}
