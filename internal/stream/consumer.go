package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Handler handles one message. Returning nil acknowledges it; an error
// means retry, unless it is Permanent.
type Handler func(ctx context.Context, m Message) error

// BatchHandler handles a batch of messages, typically in one database
// transaction. It must be all or nothing: nil acknowledges the whole batch;
// on an error the consumer hands the messages back one at a time, so that a
// single bad message cannot hold up the others.
type BatchHandler func(ctx context.Context, msgs []Message) error

// Permanent marks err as not worth retrying: the message goes to the
// dead-letter stream at once. Use it for messages that fail validation.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err was marked by Permanent or wraps
// ErrMalformed.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p) || errors.Is(err, ErrMalformed)
}

// Unavailable marks err as an outage of something the handler depends on,
// such as its database: the message is retried with backoff for as long as
// the outage lasts and is never dead-lettered for it. A batch that fails so
// is retried whole rather than one message at a time.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &unavailableError{err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// IsUnavailable reports whether err was marked by Unavailable.
func IsUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}

// Consumer reads one stream in one consumer group and hands the entries to
// its handler; see the package documentation for its guarantees. Create it
// with NewConsumer or NewBatchConsumer and call Run.
type Consumer struct {
	rdb   *redis.Client
	cfg   Config
	one   Handler
	batch BatchHandler
	log   *slog.Logger

	readerID  atomic.Int64 // CLIENT ID of the blocking reader's connection
	outages   atomic.Int64 // consecutive Unavailable failures, for their backoff
	retryMu   sync.Mutex
	retries   []retry
	retryWake chan struct{}
}

// retry is a failed message waiting for its next delivery.
type retry struct {
	msg   Message
	due   time.Time
	delay time.Duration
	// outage: the handler failed with an Unavailable error, which does not
	// count against MaxDeliveries.
	outage bool
}

// NewConsumer returns a Consumer that calls h for each message.
func NewConsumer(rdb *redis.Client, cfg Config, h Handler) (*Consumer, error) {
	return newConsumer(rdb, cfg, h, nil)
}

// NewBatchConsumer returns a Consumer that calls h with the messages of
// each read (split by Config.Concurrency).
func NewBatchConsumer(rdb *redis.Client, cfg Config, h BatchHandler) (*Consumer, error) {
	return newConsumer(rdb, cfg, nil, h)
}

func newConsumer(rdb *redis.Client, cfg Config, one Handler, batch BatchHandler) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("stream consumer config: %w", err)
	}
	cfg.setDefaults()
	return &Consumer{
		rdb:       rdb,
		cfg:       cfg,
		one:       one,
		batch:     batch,
		log:       cfg.Logger.With("stream", cfg.Stream, "group", cfg.Group, "consumer", cfg.Consumer),
		retryWake: make(chan struct{}, 1),
	}, nil
}

// Name returns the consumer's name in its group.
func (c *Consumer) Name() string { return c.cfg.Consumer }

// Run consumes until ctx is cancelled, then shuts down gracefully and
// returns nil. Redis being unreachable is not an error: Run keeps trying
// with backoff and logs it.
func (c *Consumer) Run(ctx context.Context) error {
	if err := c.createGroupRetrying(ctx); err != nil {
		return nil // ctx was cancelled before Redis answered
	}
	c.log.InfoContext(ctx, "consumer started")

	// Handlers get a context of their own so that in-flight work can finish
	// and be acknowledged after ctx is cancelled, within ShutdownTimeout.
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	work := make(chan batch)
	stop := make(chan struct{}) // closed when the shutdown time is up

	var feeders sync.WaitGroup
	readerDone := make(chan struct{})
	feeders.Go(func() { defer close(readerDone); c.readLoop(ctx, work, stop) })
	feeders.Go(func() { c.reclaimLoop(ctx, work, stop) })
	feeders.Go(func() { c.retryLoop(ctx, work, stop) })
	feedersDone := make(chan struct{})
	go func() { feeders.Wait(); close(feedersDone) }()

	var workers sync.WaitGroup
	for range c.cfg.Concurrency {
		workers.Go(func() {
			for {
				select {
				case b := <-work:
					// Decoding here rather than in the reader keeps the
					// reader, the consumer's bottleneck, to reading.
					msgs := b.msgs
					if msgs == nil {
						msgs = c.decode(hctx, b.entries, b.counts)
					}
					c.process(hctx, msgs, b.reclaimed)
				case <-feedersDone:
					return
				}
			}
		})
	}
	workersDone := make(chan struct{})
	go func() { workers.Wait(); close(workersDone) }()

	<-ctx.Done()
	timer := time.AfterFunc(c.cfg.ShutdownTimeout, func() { close(stop); cancelHandlers() })
	defer timer.Stop()
	go c.unblockReader(readerDone, stop)
	select {
	case <-workersDone:
		c.log.Info("consumer stopped")
	case <-time.After(c.cfg.ShutdownTimeout + time.Second):
		c.log.Warn("consumer stopped with work still in flight; it stays pending and will be reclaimed")
	}
	return nil
}

// unblockReader releases the reader from its blocking XREADGROUP with
// CLIENT UNBLOCK, which makes the read return as if it had timed out. It
// repeats until the reader is gone, since the reader may be between two
// reads when it is first called.
func (c *Consumer) unblockReader(readerDone, stop <-chan struct{}) {
	for {
		if id := c.readerID.Load(); id != 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.rdb.ClientUnblock(ctx, id).Err()
			cancel()
		}
		select {
		case <-readerDone:
			return
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readLoop reads new entries on a connection of its own (so that it can be
// unblocked) and hands them to the workers.
func (c *Consumer) readLoop(ctx context.Context, work chan<- batch, stop <-chan struct{}) {
	var conn *redis.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for attempt := 0; ctx.Err() == nil; {
		if conn == nil {
			conn = c.rdb.Conn()
			// The name shows the consumer in CLIENT LIST.
			var idCmd *redis.IntCmd
			_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.ClientSetName(ctx, strings.ReplaceAll(c.cfg.Consumer, " ", "_"))
				idCmd = p.ClientID(ctx)
				return nil
			})
			id := idCmd.Val()
			if err != nil {
				_ = conn.Close()
				conn = nil
				attempt++
				c.pause(ctx, "redis unreachable; retrying", err, attempt)
				continue
			}
			c.readerID.Store(id)
		}
		// The read itself must not be cut short by ctx: entries it returns
		// are already delivered to us. Shutdown releases it by CLIENT UNBLOCK.
		res, err := conn.XReadGroup(context.WithoutCancel(ctx), &redis.XReadGroupArgs{
			Group:    c.cfg.Group,
			Consumer: c.cfg.Consumer,
			Streams:  []string{c.cfg.Stream, ">"},
			Count:    c.cfg.Count,
			Block:    c.cfg.Block,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			attempt = 0
			continue
		case isNoGroup(err):
			c.recreateGroup(ctx)
			continue
		case err != nil:
			_ = conn.Close()
			conn = nil
			c.readerID.Store(0)
			attempt++
			c.pause(ctx, "read failed; reconnecting", err, attempt)
			continue
		}
		attempt = 0
		for _, s := range res {
			if !c.dispatch(work, stop, batch{entries: s.Messages}) {
				return
			}
		}
	}
}

// batch is entries on their way to a worker.
type batch struct {
	entries   []redis.XMessage
	counts    map[string]int64 // delivery counts; nil means first delivery
	reclaimed bool             // taken over from another consumer
	msgs      []Message        // already decoded (retries), instead of entries
}

// dispatch splits b into up to Concurrency batches and hands them to the
// workers. It reports false when the shutdown time ran out first.
func (c *Consumer) dispatch(work chan<- batch, stop <-chan struct{}, b batch) bool {
	if b.msgs != nil {
		size := (len(b.msgs) + c.cfg.Concurrency - 1) / c.cfg.Concurrency
		for chunk := range slices.Chunk(b.msgs, max(size, 1)) {
			select {
			case work <- batch{msgs: chunk}:
			case <-stop:
				return false
			}
		}
		return true
	}
	size := (len(b.entries) + c.cfg.Concurrency - 1) / c.cfg.Concurrency
	for chunk := range slices.Chunk(b.entries, max(size, 1)) {
		select {
		case work <- batch{entries: chunk, counts: b.counts, reclaimed: b.reclaimed}:
		case <-stop:
			return false
		}
	}
	return true
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
// this one, before a restart) left pending for longer than MinIdle.
func (c *Consumer) reclaimLoop(ctx context.Context, work chan<- batch, stop <-chan struct{}) {
	tick := time.NewTicker(c.cfg.ClaimInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !c.reclaim(ctx, work, stop) {
			return
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
			Count:    c.cfg.Count,
		}).Result()
		switch {
		case isNoGroup(err):
			c.recreateGroup(ctx)
			return true
		case err != nil:
			if ctx.Err() == nil {
				c.log.WarnContext(ctx, "reclaim failed", "err", err)
			}
			return true
		}
		if len(deleted) > 0 {
			// Redis has already dropped these from the pending list.
			c.log.WarnContext(ctx, "pending entries were trimmed from the stream before they were handled",
				"ids", deleted)
		}
		if len(entries) > 0 {
			counts, err := c.deliveryCounts(ctx, entries)
			if err != nil {
				c.log.WarnContext(ctx, "reclaim: reading delivery counts failed", "err", err)
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

// outageDelay returns the backoff after one more consecutive Unavailable
// failure; any success resets the streak (see ack).
func (c *Consumer) outageDelay() time.Duration {
	return backoff(int(c.outages.Add(1)), c.cfg.RetryBackoff, c.cfg.MaxRetryBackoff)
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

// createGroupRetrying creates the group, waiting out Redis outages. It
// fails only when ctx is cancelled.
func (c *Consumer) createGroupRetrying(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := createGroup(ctx, c.rdb, c.cfg.Stream, c.cfg.Group)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.pause(ctx, "creating consumer group failed; retrying", err, attempt)
	}
}

// recreateGroup handles NOGROUP: the stream was deleted or Redis restarted
// without its data.
func (c *Consumer) recreateGroup(ctx context.Context) {
	c.log.WarnContext(ctx, "consumer group is gone (stream deleted or Redis restarted empty); recreating it")
	_ = c.createGroupRetrying(ctx)
}

// pause logs err and sleeps a backoff for the attempt, or until ctx ends.
func (c *Consumer) pause(ctx context.Context, msg string, err error, attempt int) {
	d := backoff(attempt, 100*time.Millisecond, 5*time.Second)
	c.log.WarnContext(ctx, msg, "err", err, "attempt", attempt, "delay", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// createGroup creates group on stream at its start, creating the stream if
// need be. An existing group is left as it is.
func createGroup(ctx context.Context, rdb redis.Cmdable, stream, group string) error {
	err := rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create group %s on %s: %w", group, stream, err)
	}
	return nil
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
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

func rawValues(m map[string]any) []any {
	vals := make([]any, 0, 2*len(m))
	for k, v := range m {
		if v == nil {
			v = ""
		}
		vals = append(vals, k, v)
	}
	return vals
}
