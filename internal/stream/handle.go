package stream

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/redis/go-redis/v9"
)

// process handles one batch and acknowledges what succeeded.
// Entries taken over from another consumer that were delivered more than
// MaxDeliveries times are dead-lettered without being handled: a message
// that keeps killing its consumers never gets to fail. (Retries of our own
// do not count here, as their failures were seen.)
func (c *Consumer) process(ctx context.Context, msgs []Message, reclaimed bool) {
	todo := msgs[:0:0]
	for _, m := range msgs {
		if reclaimed && m.Deliveries > c.cfg.MaxDeliveries {
			c.deadLetterMessage(ctx, m, fmt.Errorf("delivered %d times, never acknowledged (a consumer may have crashed on it)", m.Deliveries))
			continue
		}
		todo = append(todo, m)
	}
	if len(todo) == 0 {
		return
	}
	start := time.Now()
	// One deadline for the whole batch: all of it must be done well before
	// MinIdle, or another consumer would take it over meanwhile.
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
	defer cancel()
	done := make([]string, 0, len(todo))
	if c.one == nil {
		err := c.callBatch(hctx, todo)
		if err == nil {
			for _, m := range todo {
				done = append(done, m.EntryID)
			}
			c.ack(ctx, done, time.Since(start))
			return
		}
		if IsUnavailable(err) {
			// The batch waits out the outage together.
			delay := c.outageDelay()
			c.log.WarnContext(ctx, "handler dependency unavailable; the batch will be retried",
				"size", len(todo), "delay", delay, "err", err)
			c.scheduleRetry(todo, delay, true)
			return
		}
		if len(todo) == 1 {
			c.fail(ctx, todo[0], err)
			return
		}
		c.log.WarnContext(ctx, "batch failed; handling its entries one by one", "size", len(todo), "err", err)
		// The one-by-one pass gets a deadline of its own: the batch may
		// have failed by running out of time.
		cancel()
		hctx, cancel = context.WithTimeout(ctx, c.cfg.HandlerTimeout)
		defer cancel()
	}
	for _, m := range todo {
		var err error
		if c.one != nil {
			err = c.callOne(hctx, m)
		} else {
			err = c.callBatch(hctx, []Message{m})
		}
		if err != nil {
			c.fail(ctx, m, err)
			continue
		}
		done = append(done, m.EntryID)
	}
	c.ack(ctx, done, time.Since(start))
}

// callOne and callBatch call the handler, turning a panic into an error.
func (c *Consumer) callOne(ctx context.Context, m Message) (err error) {
	defer c.recoverInto(ctx, &err)
	return c.one(ctx, m)
}

func (c *Consumer) callBatch(ctx context.Context, msgs []Message) (err error) {
	defer c.recoverInto(ctx, &err)
	return c.batch(ctx, msgs)
}

func (c *Consumer) recoverInto(ctx context.Context, err *error) {
	if r := recover(); r != nil {
		c.log.ErrorContext(ctx, "handler panicked", "panic", r, "stack", string(debug.Stack()))
		*err = fmt.Errorf("handler panicked: %v", r)
	}
}

// fail decides what happens to a message whose handler failed: a retry
// after a backoff, or the dead-letter stream.
func (c *Consumer) fail(ctx context.Context, m Message, err error) {
	c.cfg.Metrics.Failed(c.cfg.Stream, c.cfg.Group, 1)
	if IsPermanent(err) || (m.Deliveries >= c.cfg.MaxDeliveries && !IsUnavailable(err)) {
		c.deadLetterMessage(ctx, m, err)
		return
	}
	if IsUnavailable(err) {
		delay := c.outageDelay()
		c.log.WarnContext(ctx, "handler dependency unavailable; will retry", "id", m.EntryID, "delay", delay, "err", err)
		c.scheduleRetry([]Message{m}, delay, true)
		return
	}
	delay := backoff(int(m.Deliveries), c.cfg.RetryBackoff, c.cfg.MaxRetryBackoff)
	c.log.WarnContext(ctx, "handler failed; will retry",
		"id", m.EntryID, "event", m.Type, "deliveries", m.Deliveries, "delay", delay, "err", err)
	c.scheduleRetry([]Message{m}, delay, false)
}

func (c *Consumer) ack(ctx context.Context, ids []string, took time.Duration) {
	if len(ids) == 0 {
		return
	}
	if err := c.rdb.XAck(ctx, c.cfg.Stream, c.cfg.Group, ids...).Err(); err != nil {
		c.log.WarnContext(ctx, "ack failed; the entries will be delivered again", "count", len(ids), "err", err)
		return
	}
	c.outages.Store(0)
	c.cfg.Metrics.Processed(c.cfg.Stream, c.cfg.Group, len(ids), took)
}

func (c *Consumer) deadLetterMessage(ctx context.Context, m Message, cause error) {
	vals, err := m.Event.values()
	if err != nil { // cannot happen for a decoded message; keep the cause
		cause = errors.Join(cause, err)
	}
	c.deadLetter(ctx, m.EntryID, vals, m.Deliveries, cause)
}

// deadLetter appends the entry, with why and where from, to the dead-letter
// stream and acknowledges it, atomically. If that fails the entry stays
// pending and comes back through reclaim.
func (c *Consumer) deadLetter(ctx context.Context, id string, vals []any, attempts int64, cause error) {
	vals = append(vals,
		dlqError, cause.Error(),
		dlqAttempts, attempts,
		dlqOriginStream, c.cfg.Stream,
		dlqOriginID, id,
		dlqGroup, c.cfg.Group,
		dlqConsumer, c.cfg.Consumer,
		dlqTime, time.Now().UTC().Format(time.RFC3339Nano),
	)
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: c.cfg.DeadLetterStream, Values: vals})
		p.XAck(ctx, c.cfg.Stream, c.cfg.Group, id)
		return nil
	})
	if err != nil {
		c.log.ErrorContext(ctx, "dead-lettering failed; the entry stays pending", "id", id, "err", err)
		return
	}
	c.cfg.Metrics.DeadLettered(c.cfg.Stream, c.cfg.Group, 1)
	c.log.ErrorContext(ctx, "entry moved to the dead-letter stream",
		"id", id, "dlq", c.cfg.DeadLetterStream, "attempts", attempts, "err", cause)
}
