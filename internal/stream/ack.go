package stream

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A consumer acknowledges what it handled a little later, in batches over
// time, rather than with an XACK per batch: the ids of a batch handled
// join the acks waiting, and they go out together, in one XACK, once the
// oldest has waited Config.AckDelay, with the next read, in the same round
// trip (or by themselves a quarter of an AckDelay later, should the reader
// be blocked in a read), once there are Count of them, and before the
// consumer stops. The entries stay held (their lease renewed) until their
// ack succeeds; an ack that fails is kept and sent again after a backoff,
// never dropped. After a crash the entries waiting are delivered again, as
// any pending entry. See decision 33.

// acks are the acknowledgements waiting to be sent.
type acks struct {
	mu        sync.Mutex
	ids       []string
	oldest    time.Time     // when the first of ids was handled; zero when none
	notBefore time.Time     // after a failed ack, when to try again
	failures  int           // consecutive failed acks
	wake      chan struct{} // ackLoop's: acks are waiting now, or Count of them
}

// ack queues the acknowledgement of ids, handled in took. They count as
// processed now: their ack is sent until it succeeds, or the consumer
// dies.
func (c *Consumer) ack(_ context.Context, ids []string, took time.Duration) {
	if len(ids) == 0 {
		return
	}
	c.outages.Store(0)
	c.cfg.Metrics.Processed(c.cfg.Stream, c.cfg.Group, len(ids), took)
	a := &c.acks
	a.mu.Lock()
	first := len(a.ids) == 0
	if first {
		a.oldest = time.Now()
	}
	a.ids = append(a.ids, ids...)
	full := len(a.ids) >= int(c.cfg.Count)
	a.mu.Unlock()
	if first || full {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// takeAcks takes the acks waiting when they are due at now: the oldest
// has waited AckDelay, or there are Count of them. all takes them anyway.
func (c *Consumer) takeAcks(now time.Time, all bool) []string {
	a := &c.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.ids) == 0 {
		return nil
	}
	due := !now.Before(a.notBefore) &&
		(now.Sub(a.oldest) >= c.cfg.AckDelay || len(a.ids) >= int(c.cfg.Count))
	if !due && !all {
		return nil
	}
	ids := a.ids
	a.ids, a.oldest = nil, time.Time{}
	return ids
}

// acksDueIn reports how long from now until the acks waiting are due,
// and whether any are waiting.
func (c *Consumer) acksDueIn(now time.Time) (time.Duration, bool) {
	a := &c.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.ids) == 0 {
		return 0, false
	}
	due := a.oldest.Add(c.cfg.AckDelay)
	if a.notBefore.After(due) {
		due = a.notBefore
	}
	return max(due.Sub(now), 0), true
}

// acked records the outcome of acknowledging ids: the entries are
// released, or, when err is not nil, queued again to be sent after a
// backoff.
func (c *Consumer) acked(ctx context.Context, ids []string, err error) {
	a := &c.acks
	if err == nil || isNoGroup(err) { // no group, nothing pending to acknowledge
		a.mu.Lock()
		a.failures = 0
		a.mu.Unlock()
		c.release(ids...)
		return
	}
	now := time.Now()
	a.mu.Lock()
	a.failures++
	delay := backoff(a.failures, c.cfg.RetryBackoff, c.cfg.MaxRetryBackoff)
	a.notBefore = now.Add(delay)
	a.ids = append(ids, a.ids...)
	a.oldest = now.Add(-c.cfg.AckDelay) // due again as soon as notBefore has passed
	a.mu.Unlock()
	c.warnOutage(ctx, "ack failed; will retry", "count", len(ids), "delay", delay, "err", err)
}

// flushAcks sends the acks that are due at now (all of them with all) in
// an XACK of their own.
func (c *Consumer) flushAcks(ctx context.Context, now time.Time, all bool) {
	ids := c.takeAcks(now, all)
	if len(ids) == 0 {
		return
	}
	c.acked(ctx, ids, c.rdb.XAck(ctx, c.cfg.Stream, c.cfg.Group, ids...).Err())
}

// ackLoop sends the acks that the reader has not sent with a read: those
// waiting for a quarter of an AckDelay more than their due time (the
// reader is blocked in a read: the stream is quiet), and those that
// reached Count. The reader's reads are not cut short for the acks: on a
// busy stream it reads every few milliseconds and takes them along, and
// on a quiet one an XACK of their own costs fewer commands than an empty
// read before the XACK with the next. It is woken when acks begin to wait
// and when Count of them are waiting. It returns when stop is closed.
func (c *Consumer) ackLoop(ctx context.Context, stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Hour
		if in, ok := c.acksDueIn(time.Now()); ok {
			wait = in + c.cfg.AckDelay/4
		}
		timer.Reset(wait)
		select {
		case <-stop:
			return
		case <-c.acks.wake:
		case <-timer.C:
		}
		c.flushAcks(ctx, time.Now(), false)
	}
}

// finalAcks sends every ack still waiting, when the consumer stops. What
// cannot be acknowledged is delivered again, to this consumer's group.
func (c *Consumer) finalAcks(ctx context.Context) {
	ids := c.takeAcks(time.Now(), true)
	if len(ids) == 0 {
		return
	}
	// Two tries, a second apart at most: the process is stopping.
	for try := range 2 {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.rdb.XAck(actx, c.cfg.Stream, c.cfg.Group, ids...).Err()
		cancel()
		if err == nil || isNoGroup(err) {
			c.acked(ctx, ids, nil)
			return
		}
		if try == 1 {
			c.log.WarnContext(ctx, "ack failed at shutdown; the entries will be delivered again",
				"count", len(ids), "err", err)
		}
	}
}

// readWithAcks reads as args says on conn, sending the acks due with the
// read, in the same round trip.
func (c *Consumer) readWithAcks(ctx context.Context, conn *redis.Conn, args *redis.XReadGroupArgs) ([]redis.XStream, error) {
	ids := c.takeAcks(time.Now(), false)
	if len(ids) == 0 {
		return conn.XReadGroup(ctx, args).Result()
	}
	var (
		ack  *redis.IntCmd
		read *redis.XStreamSliceCmd
	)
	_, _ = conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		ack = p.XAck(ctx, c.cfg.Stream, c.cfg.Group, ids...)
		read = p.XReadGroup(ctx, args)
		return nil
	})
	c.acked(ctx, ids, ack.Err())
	return read.Result()
}
