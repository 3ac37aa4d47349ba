package stream

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// retry is a failed message waiting for its next delivery.
type retry struct {
	msg   Message
	due   time.Time
	delay time.Duration
	// outage: the handler failed with an Unavailable error, which does not
	// count against MaxDeliveries.
	outage bool
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
		due := c.dueRetries(time.Now())
		if len(due) == 0 {
			continue
		}
		b, err := c.claimForRetry(ctx, due)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.WarnContext(ctx, "claiming entries for retry failed", "err", err)
			for _, r := range due {
				c.scheduleRetry([]Message{r.msg}, time.Second, r.outage)
			}
			continue
		}
		c.cfg.Metrics.Retried(c.cfg.Stream, c.cfg.Group, len(b.msgs))
		if !c.dispatch(work, stop, b) {
			return
		}
	}
}

// claimForRetry claims the due entries back to this consumer. A plain
// XCLAIM counts a delivery; retries after an outage use XCLAIM JUSTID,
// which keeps the entry ours (its idle time restarts, so no other consumer
// takes it over) without counting one: an outage must not push entries
// towards the dead-letter stream. An entry that another consumer took over
// meanwhile (its idle time is then below the retry delay) is not claimed,
// and is dropped here.
func (c *Consumer) claimForRetry(ctx context.Context, due []retry) (batch, error) {
	var counted, outage []string
	minIdle := due[0].delay
	for _, r := range due {
		if r.outage {
			outage = append(outage, r.msg.EntryID)
		} else {
			counted = append(counted, r.msg.EntryID)
		}
		minIdle = min(minIdle, r.delay)
	}
	pipe := c.rdb.Pipeline()
	var countedCmd *redis.XMessageSliceCmd
	var outageCmd *redis.StringSliceCmd
	if len(counted) > 0 {
		countedCmd = pipe.XClaim(ctx, &redis.XClaimArgs{
			Stream: c.cfg.Stream, Group: c.cfg.Group, Consumer: c.cfg.Consumer, MinIdle: minIdle, Messages: counted,
		})
	}
	if len(outage) > 0 {
		outageCmd = pipe.XClaimJustID(ctx, &redis.XClaimArgs{
			Stream: c.cfg.Stream, Group: c.cfg.Group, Consumer: c.cfg.Consumer, MinIdle: minIdle, Messages: outage,
		})
	}
	_, err := pipe.Exec(ctx)
	if isNoGroup(err) {
		c.recreateGroup(ctx)
		return batch{}, nil
	}
	if err != nil {
		return batch{}, err
	}
	claimed := make(map[string]bool, len(due))
	if countedCmd != nil {
		for _, xm := range countedCmd.Val() {
			claimed[xm.ID] = true
		}
	}
	if outageCmd != nil {
		for _, id := range outageCmd.Val() {
			claimed[id] = true
		}
	}
	msgs := make([]Message, 0, len(claimed))
	for _, r := range due {
		if claimed[r.msg.EntryID] {
			m := r.msg
			if !r.outage {
				m.Deliveries++
			}
			msgs = append(msgs, m)
		}
	}
	return batch{msgs: msgs}, nil
}

// scheduleRetry queues msgs for redelivery after delay, all at the same
// time, so that a batch is retried as a batch.
func (c *Consumer) scheduleRetry(msgs []Message, delay time.Duration, outage bool) {
	due := time.Now().Add(delay)
	c.retryMu.Lock()
	for _, m := range msgs {
		c.retries = append(c.retries, retry{msg: m, due: due, delay: delay, outage: outage})
	}
	c.retryMu.Unlock()
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
