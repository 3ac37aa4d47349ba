package stream

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

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

// CreateGroup creates group on stream at its start, creating the stream
// if need be, as a Consumer does when it starts; an existing group is left
// as it is. Once it returned, every entry appended later will be read by
// the group: what a service that starts from a snapshot does first.
func CreateGroup(ctx context.Context, rdb redis.Cmdable, stream, group string) error {
	return createGroup(ctx, rdb, stream, group)
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
