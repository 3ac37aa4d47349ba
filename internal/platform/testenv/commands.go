package testenv

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Commands counts the commands that a Redis client sends, by name, those
// of pipelines included: a test that asserts how many round trips or
// commands some work costs hooks one to the client it gives that work.
type Commands struct {
	mu     sync.Mutex
	byName map[string]int
	total  int
}

// CountCommands starts counting the commands rdb sends from now on.
func CountCommands(rdb redis.UniversalClient) *Commands {
	c := &Commands{byName: map[string]int{}}
	rdb.AddHook(c)
	return c
}

// Count returns how many commands named one of names (lower case,
// "xack") were sent, or how many in all when no name is given.
func (c *Commands) Count(names ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(names) == 0 {
		return c.total
	}
	n := 0
	for _, name := range names {
		n += c.byName[name]
	}
	return n
}

func (c *Commands) add(cmds ...redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cmd := range cmds {
		c.byName[strings.ToLower(cmd.Name())]++
	}
	c.total += len(cmds)
}

// DialHook is part of redis.Hook.
func (c *Commands) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook is part of redis.Hook.
func (c *Commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook is part of redis.Hook.
func (c *Commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.add(cmds...)
		return next(ctx, cmds)
	}
}
