package stream

import (
	"sync"
	"time"
)

// A consumer sizes its reads by its backlog. It asks for MinCount entries
// while it keeps up; a read that comes back full means more are waiting,
// so the next one asks for twice as many, up to Count; a read that comes
// back short means the backlog is gone, and the next one asks for at most
// twice what it got, and at most half as many as before, down to
// MinCount. A consumer that is behind thus reads (and acknowledges, and
// hands its batch handler) up to Count entries at a time, and one that
// keeps up reads what is there as soon as it is there: the count bounds a
// read, it never makes one wait.
//
// Bigger is not always better: a batch must finish well within its
// handler's time. So the workers report how long their batches take, and
// a read is never larger than what they handle, split among them (see
// dispatch), in a quarter of HandlerTimeout (for a batch handler) and of
// ShutdownTimeout (so that a consumer stopping can finish its batch
// before it must give up). The bound never goes below MinCount, the
// fixed count of old.

// readSize chooses the count of each read of one read loop. It is not
// safe for concurrent use: each read loop has its own.
type readSize struct {
	floor, ceiling int64 // MinCount and Count
	cur            int64 // the count the backlog asks for, between the two
	asked          int64 // the count of the last read
}

func newReadSize(floor, ceiling int64) *readSize {
	return &readSize{floor: floor, ceiling: ceiling, cur: floor}
}

// next returns the count of the next read, at most limit (but at least
// the floor).
func (s *readSize) next(limit int64) int64 {
	s.asked = max(s.floor, min(s.cur, limit))
	return s.asked
}

// got records that the last read returned n entries, and reports whether
// it came back short but not empty: the consumer keeps up, and entries are
// coming (see Config.Linger).
func (s *readSize) got(n int) (short bool) {
	if int64(n) >= s.asked {
		s.cur = min(2*s.asked, s.ceiling)
		return false
	}
	s.cur = max(s.floor, min(s.asked/2, 2*int64(n)))
	return n > 0
}

// pace is how long a consumer's handlers take per entry: an estimate that
// follows a slowdown at once and a speed-up gradually. It is safe for
// concurrent use.
type pace struct {
	mu       sync.Mutex
	perEntry time.Duration // zero until a batch was handled
}

// handled records that a batch of n entries took took.
func (p *pace) handled(n int, took time.Duration) {
	if n <= 0 {
		return
	}
	d := took / time.Duration(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if d >= p.perEntry {
		p.perEntry = d
		return
	}
	p.perEntry -= (p.perEntry - d) / 4
}

// entriesWithin returns how many entries the handlers get through in
// budget at the current pace, or limit when that is more (or the pace is
// not known yet).
func (p *pace) entriesWithin(budget time.Duration, limit int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.perEntry <= 0 {
		return limit
	}
	return min(int64(budget/p.perEntry), limit)
}

// readLimit returns the largest read the consumer's workers handle in
// time (see the comment at the top of this file).
func (c *Consumer) readLimit() int64 {
	budget := c.cfg.ShutdownTimeout
	if c.batch != nil {
		budget = min(budget, c.cfg.HandlerTimeout)
	}
	perBatch := c.pace.entriesWithin(budget/4, c.cfg.Count)
	return min(perBatch*int64(c.cfg.Concurrency), c.cfg.Count)
}
