package stream

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"
)

// retry is a batch of messages waiting for their next delivery. Retries
// are never merged: a retried batch is at most as large as the batch it
// came from, and so never larger than Count.
type retry struct {
	msgs []Message
	due  time.Time
	// counted: the redelivery counts toward MaxDeliveries. Retries after
	// an outage (Unavailable), a deferral (Defer) or a timeout of a batch
	// that was split do not count: none of them says the message is bad.
	counted bool
}

// retryLoop redelivers failed messages to this consumer when their backoff
// has passed.
func (c *Consumer) retryLoop(ctx context.Context, work chan<- batch, stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(c.untilNextRetry())
		select {
		case <-ctx.Done():
			return
		case <-c.retryWake:
			continue
		case <-timer.C:
		}
		for _, r := range c.dueRetries(time.Now()) {
			b, err := c.claimForRetry(ctx, r)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				c.warnOutage(ctx, "claiming entries for retry failed", "err", err)
				c.requeue(r, time.Second)
				continue
			}
			if len(b.msgs) == 0 {
				continue
			}
			c.cfg.Metrics.Retried(c.cfg.Stream, c.cfg.Group, len(b.msgs))
			if !c.dispatch(work, stop, b) {
				return
			}
		}
	}
}

// claimForRetry claims the entries of r back to this consumer, as far as
// they are still its own. A counted retry claims them with a plain XCLAIM,
// which counts a delivery; the others with XCLAIM JUSTID, which does not
// (an outage must not push entries towards the dead-letter stream). An
// entry that another consumer took over meanwhile (this one stalled for
// MinIdle) is not claimed back, and is dropped here.
func (c *Consumer) claimForRetry(ctx context.Context, r retry) (batch, error) {
	ids := make([]string, len(r.msgs))
	for i, m := range r.msgs {
		ids[i] = m.EntryID
	}
	mine, err := c.claimOwn(ctx, ids, r.counted)
	if isNoGroup(err) {
		c.release(ids...)
		c.recreateGroup(ctx)
		return batch{}, nil
	}
	if err != nil {
		return batch{}, err
	}
	msgs := make([]Message, 0, len(mine))
	for _, m := range r.msgs {
		if mine[m.EntryID] {
			if r.counted {
				m.Deliveries++
			}
			msgs = append(msgs, m)
		}
	}
	return batch{msgs: msgs}, nil
}

// scheduleRetry queues msgs for redelivery after delay, as one batch (of
// at most Count, should it ever be larger), so that a batch is retried as
// a batch.
func (c *Consumer) scheduleRetry(msgs []Message, delay time.Duration, counted bool) {
	due := time.Now().Add(delay)
	c.retryMu.Lock()
	for chunk := range slices.Chunk(msgs, int(c.cfg.Count)) {
		c.retries = append(c.retries, retry{msgs: chunk, due: due, counted: counted})
	}
	c.retryMu.Unlock()
	c.wakeRetries()
}

// requeue queues r again after delay.
func (c *Consumer) requeue(r retry, delay time.Duration) {
	r.due = time.Now().Add(delay)
	c.retryMu.Lock()
	c.retries = append(c.retries, r)
	c.retryMu.Unlock()
	c.wakeRetries()
}

func (c *Consumer) wakeRetries() {
	select {
	case c.retryWake <- struct{}{}:
	default:
	}
}

func (c *Consumer) untilNextRetry() time.Duration {
	c.retryMu.Lock()
	defer c.retryMu.Unlock()
	next := time.Hour
	for _, r := range c.retries {
		next = min(next, time.Until(r.due))
	}
	return max(next, 0)
}

func (c *Consumer) dueRetries(now time.Time) []retry {
	c.retryMu.Lock()
	defer c.retryMu.Unlock()
	var due []retry
	c.retries = slices.DeleteFunc(c.retries, func(r retry) bool {
		if r.due.After(now) {
			return false
		}
		due = append(due, r)
		return true
	})
	return due
}

// outageDelay returns the backoff after one more consecutive Unavailable
// failure; any success resets the streak (see ack).
func (c *Consumer) outageDelay() time.Duration {
	return backoff(int(c.outages.Add(1)), c.cfg.RetryBackoff, c.cfg.MaxRetryBackoff)
}

// backoff returns the delay before attempt n (from 1): base doubled per
// attempt, capped at ceiling, with the upper half jittered.
func backoff(n int, base, ceiling time.Duration) time.Duration {
	d := base << min(max(n-1, 0), 30)
	if d <= 0 || d > ceiling {
		d = ceiling
	}
	return d/2 + rand.N(d/2+1)
}
