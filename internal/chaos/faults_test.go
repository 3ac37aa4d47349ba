//go:build chaos && linux

package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/stream"
)

func jsonDecode(resp *http.Response, out any) error {
	return json.NewDecoder(resp.Body).Decode(out)
}

// killPayments sends sig to payments-1 and measures how long until no
// consumer of that process holds a pending entry; then starts it again.
func killPayments(sig syscall.Signal) func(context.Context, *system, *figures) error {
	return func(ctx context.Context, s *system, f *figures) error {
		p := s.procs["payments-1"]
		pid := p.cmd.Process.Pid
		mark := "-" + strconv.Itoa(pid) + "-"
		if sig == syscall.SIGKILL {
			// Frozen, it still has entries delivered to its blocked read:
			// it dies holding work, as a crash mid-batch does.
			if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				return err
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				held, err := pendingOf(ctx, s.admin, mark)
				if err != nil {
					return err
				}
				if held > 0 || time.Now().After(deadline) {
					f.held = held
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		killed := time.Now()
		if err := s.signal("payments-1", sig); err != nil {
			return err
		}
		f.recovered = killed
		deadline := time.Now().Add(bound)
		for {
			held, err := pendingOf(ctx, s.admin, mark)
			if err != nil {
				return err
			}
			if held == 0 {
				f.takeover = max(time.Since(killed), time.Millisecond)
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d entries of the stopped consumer not taken over within %v", held, bound)
			}
			time.Sleep(50 * time.Millisecond)
		}
		s.start("payments-1")
		return nil
	}
}

// pendingOf counts the entries pending with consumers whose name holds mark.
func pendingOf(ctx context.Context, rdb redis.UniversalClient, mark string) (int64, error) {
	var n int64
	for _, name := range []string{events.OrdersStream, events.PaymentsStream, events.TransactionStream} {
		info, err := stream.Inspect(ctx, rdb, name)
		if err != nil {
			return 0, err
		}
		for _, g := range info.Groups {
			for _, c := range g.Consumers {
				if strings.Contains(c.Name, mark) {
					n += c.Pending
				}
			}
		}
	}
	return n, nil
}

// restartRedis SIGKILLs Redis and restarts it from its files, or (empty)
// stops it, removes its data and starts it with only its users.
func restartRedis(empty bool) func(context.Context, *system, *figures) error {
	return func(ctx context.Context, s *system, f *figures) error {
		if !empty {
			if err := s.redis.Kill(); err != nil {
				return err
			}
		} else {
			if err := s.redis.Stop(ctx); err != nil {
				return err
			}
			entries, err := os.ReadDir(s.redis.Dir())
			if err != nil {
				return err
			}
			for _, e := range entries {
				if e.Name() != filepath.Base(s.redis.LogPath()) && e.Name() != "users.acl" {
					if err := os.RemoveAll(filepath.Join(s.redis.Dir(), e.Name())); err != nil {
						return err
					}
				}
			}
		}
		if err := s.redis.Restart(ctx); err != nil {
			return err
		}
		f.recovered = time.Now()
		return nil
	}
}

// stopPostgres stops PostgreSQL -m immediate and starts it 5 s later.
func stopPostgres(ctx context.Context, s *system, f *figures) error {
	if err := s.pg.StopImmediate(ctx); err != nil {
		return err
	}
	select { // the outage lasts 5 s: that is the scenario, not a wait for a condition
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := s.pg.Restart(ctx); err != nil {
		return err
	}
	f.recovered = time.Now()
	return nil
}

// duplicates appends again, with the admin's credentials, the last 1,000
// OrderPlaced entries, signed by orders, field for field.
func duplicates(ctx context.Context, s *system, f *figures) error {
	msgs, err := s.admin.XRevRangeN(ctx, events.OrdersStream, "+", "-", 1000).Result()
	if err != nil {
		return err
	}
	if len(msgs) < 100 {
		return fmt.Errorf("only %d entries to duplicate", len(msgs))
	}
	pipe := s.admin.Pipeline()
	for _, m := range msgs {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: events.OrdersStream, Values: m.Values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	f.recovered = time.Now()
	return nil
}

// poison appends entries no consumer can handle: bad JSON, a 1 MB field,
// an unknown version and an order that does not exist (signed). Each
// must be dead-lettered while the others go on.
func poison(ctx context.Context, s *system, f *figures) error {
	msgs, err := s.admin.XRevRangeN(ctx, events.OrdersStream, "+", "-", 1).Result()
	if err != nil || len(msgs) == 0 {
		return fmt.Errorf("no entry to start from: %v", err)
	}
	base := msgs[0].Values
	with := func(k string, v any) map[string]any {
		out := map[string]any{}
		for key, val := range base {
			out[key] = val
		}
		out[stream.FieldEventID] = stream.NewID()
		out[k] = v
		return out
	}
	m, err := stream.Decode(events.OrdersStream, msgs[0])
	if err != nil {
		return err
	}
	placed, err := events.ParseOrderPlaced(m, s.key)
	if err != nil {
		return err
	}
	placed.OrderID = "chaos" + strings.ReplaceAll(stream.NewID(), "-", "")[:20]
	unknown := placed.Event(s.key)
	before, err := stream.Inspect(ctx, s.admin, events.OrdersStream)
	if err != nil {
		return err
	}
	for _, v := range []map[string]any{
		with("products", "{not json"),
		with("browserAgent", strings.Repeat("x", 1<<20)),
		with(stream.FieldEventVersion, "99"),
	} {
		if err := s.admin.XAdd(ctx, &redis.XAddArgs{Stream: events.OrdersStream, Values: v}).Err(); err != nil {
			return err
		}
	}
	if _, err := stream.NewPublisher(s.admin, nil).Publish(ctx, events.OrdersStream, unknown); err != nil {
		return err
	}
	f.recovered = time.Now()
	deadline := time.Now().Add(bound)
	for {
		after, err := stream.Inspect(ctx, s.admin, events.OrdersStream)
		if err != nil {
			return err
		}
		if after.DeadLetters-before.DeadLetters >= 3 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d poison entries dead-lettered within %v, want at least 3", after.DeadLetters-before.DeadLetters, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
