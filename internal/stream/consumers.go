package stream

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
)

// Consumers are a service's consumers, one per stream it reads, made from
// the service's one consumer template (its Config's Consumer) and run
// together with the service's other long-running work.
type Consumers []*Consumer

// NewConsumers returns the consumers of service: one of each stream that
// handlers has a handler for, which it hands each read (a BatchHandler).
// Each is template with that Stream and with log as its Logger, so that
// its lines carry the service. It does no I/O. Its error, of the first
// stream by name whose consumer cannot be made, names the service and the
// stream.
func NewConsumers(service string, rdb redis.UniversalClient, template Config, log *slog.Logger, handlers map[string]BatchHandler) (Consumers, error) {
	template.Logger = log
	cs := make(Consumers, 0, len(handlers))
	for _, name := range slices.Sorted(maps.Keys(handlers)) {
		c, err := NewBatchConsumer(rdb, template.WithStream(name), handlers[name])
		if err != nil {
			return nil, fmt.Errorf("%s: consumer of %s: %w", service, name, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// Run runs the consumers, and beside them the service's other loops (its
// outbox relay, its own work), until ctx is cancelled, then returns nil
// once all have stopped; each consumer finishes the batches in flight
// first. An error that one of them returns cancels the others, and Run
// returns it once they have stopped. Call Run once.
func (cs Consumers) Run(ctx context.Context, loops ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		g.Go(func() error { return c.Run(ctx) })
	}
	for _, loop := range loops {
		g.Go(func() error { return loop(ctx) })
	}
	return g.Wait()
}
