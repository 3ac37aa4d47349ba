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
	if c.one != nil {
		c.processEach(ctx, todo, c.callOne)
		return
	}
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
	err := c.callBatch(hctx, todo)
	timedOut := errors.Is(hctx.Err(), context.DeadlineExceeded)
	cancel()
	c.pace.handled(len(todo), time.Since(start))
	after, deferred := deferral(err)
	switch {
	case err == nil:
		c.ack(ctx, messageIDs(todo), time.Since(start))
	case deferred && !IsPermanent(err):
		c.deferRetry(ctx, todo, after, err)
	case timedOut && len(todo) > 1:
		// Overloaded, most likely: the same batch would time out again,
		// and merged with others grow until nothing gets through. Its
		// halves are retried, without counting a delivery, until they are
		// small enough to finish in time.
		delay := c.outageDelay()
		half := len(todo) / 2
		c.warnOutage(ctx, "batch timed out; retrying it in halves", "size", len(todo), "delay", delay, "err", err)
		c.scheduleRetry(todo[:half], delay, false)
		c.scheduleRetry(todo[half:], delay, false)
	case IsUnavailable(err):
		// The batch waits out the outage together.
		delay := c.outageDelay()
		c.warnOutage(ctx, "handler dependency unavailable; will retry", "size", len(todo), "delay", delay, "err", err)
		c.scheduleRetry(todo, delay, false)
	case len(todo) == 1:
		c.fail(ctx, todo[0], err)
	default:
		c.log.WarnContext(ctx, "batch failed; handling its entries one by one", "size", len(todo), "err", err)
		c.processEach(ctx, todo, func(ctx context.Context, m Message) error {
			return c.callBatch(ctx, []Message{m})
		})
	}
}

// processEach hands msgs to call one at a time, each with HandlerTimeout
// of its own, and acknowledges those that succeeded.
func (c *Consumer) processEach(ctx context.Context, msgs []Message, call func(context.Context, Message) error) {
	start := time.Now()
	done := make([]string, 0, len(msgs))
	for _, m := range msgs {
		hctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
		err := call(hctx, m)
		cancel()
		if err != nil {
			c.fail(ctx, m, err)
			continue
		}
		done = append(done, m.EntryID)
	}
	c.pace.handled(len(msgs), time.Since(start))
	c.ack(ctx, done, time.Since(start))
}

func messageIDs(msgs []Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.EntryID
	}
	return ids
}

// callOne and callBatch call the handler, turning a panic into an error,
// in the spans of the handling (traceHandling). The handler gets copies of
// the messages: what is retried keeps its envelope as it was read.
func (c *Consumer) callOne(ctx context.Context, m Message) (err error) {
	if c.tracer != nil {
		var (
			traced []Message
			end    func(error)
		)
		ctx, traced, end = c.traceHandling(ctx, []Message{m})
		m = traced[0]
		defer func() { end(err) }()
	}
	defer c.recoverInto(ctx, &err)
	return c.one(ctx, m)
}

func (c *Consumer) callBatch(ctx context.Context, msgs []Message) (err error) {
	if c.tracer != nil {
		var end func(error)
		ctx, msgs, end = c.traceHandling(ctx, msgs)
		defer func() { end(err) }()
	}
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
// after a backoff or a deferral, or the dead-letter stream.
func (c *Consumer) fail(ctx context.Context, m Message, err error) {
	if after, ok := deferral(err); ok && !IsPermanent(err) {
		c.deferRetry(ctx, []Message{m}, after, err)
		return
	}
	c.retryOrDeadLetter(ctx, m, err)
}

func (c *Consumer) retryOrDeadLetter(ctx context.Context, m Message, err error) {
	c.cfg.Metrics.Failed(c.cfg.Stream, c.cfg.Group, 1)
	if IsPermanent(err) || (m.Deliveries >= c.cfg.MaxDeliveries && !IsUnavailable(err)) {
		c.deadLetterMessage(ctx, m, err)
		return
	}
	if IsUnavailable(err) {
		delay := c.outageDelay()
		c.warnOutage(ctx, "handler dependency unavailable; will retry", "id", m.EntryID, "delay", delay, "err", err)
		c.scheduleRetry([]Message{m}, delay, false)
		return
	}
	delay := backoff(int(m.Deliveries), c.cfg.RetryBackoff, c.cfg.MaxRetryBackoff)
	c.log.WarnContext(ctx, "handler failed; will retry",
		"id", m.EntryID, "event", m.Type, "deliveries", m.Deliveries, "delay", delay, "err", err)
	c.scheduleRetry([]Message{m}, delay, true)
}

// deferRetry delivers msgs again after the delay after (kept between
// RetryBackoff and MaxDeferral), without counting a delivery. A message
// deferred for longer than MaxDeferral in all is treated as failed.
func (c *Consumer) deferRetry(ctx context.Context, msgs []Message, after time.Duration, err error) {
	after = min(max(after, c.cfg.RetryBackoff), c.cfg.MaxDeferral)
	now := time.Now()
	later := msgs[:0:0]
	for _, m := range msgs {
		if c.deferredTooLong(m.EntryID, now) {
			c.retryOrDeadLetter(ctx, m, fmt.Errorf("deferred for longer than %v: %w", c.cfg.MaxDeferral, err))
			continue
		}
		later = append(later, m)
	}
	if len(later) == 0 {
		return
	}
	c.log.DebugContext(ctx, "handling deferred", "size", len(later), "delay", after, "reason", err)
	c.scheduleRetry(later, after, false)
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
	// Dead-lettered or not, the entry is no longer held: if this fails it
	// goes idle and comes back through reclaim.
	defer c.release(id)
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
