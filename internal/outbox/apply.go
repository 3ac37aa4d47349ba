package outbox

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"streamcart/internal/platform/postgres"
	"streamcart/internal/stream"
)

// Effect applies the fresh events of a batch as part of tx and returns the
// messages that announce what it did (none is fine). It is called at most
// once per Apply, only with events whose ids were never processed, each
// id once.
type Effect[E any] func(ctx context.Context, tx pgx.Tx, fresh []E) ([]*Message, error)

// Apply is the one step by which a consumer that writes PostgreSQL applies
// a batch of events exactly once in effect, although the stream delivers
// them at least once. In one transaction of o's pool it
//
//  1. records the id of each event of batch (eventID) in o's
//     processed_events and keeps the events whose id was new: the fresh
//     ones, in the order of batch;
//  2. calls effect with the fresh events, unless there are none: then
//     nothing is left to do and Apply returns nil without committing;
//  3. adds the messages effect returns to o's outbox;
//  4. commits, and kicks the relay if there were messages.
//
// The record, the effect and the messages commit together or not at all.
// If effect or any step fails, the transaction rolls back, no id is
// recorded, and the redelivered batch is applied then. If the commit
// succeeded but the consumer never acknowledged the entries (it crashed,
// or the ack was lost), the redelivered batch finds every id recorded and
// has no effect; the messages of the first time are published once.
//
// A batch may hold one event twice: the relay that published it may have
// died before its commit and published it again, and both entries may be
// read together. Only the first of them is fresh, so effect sees every id
// once and need not check.
//
// Two transactions that record the same id at once (replicas handling an
// entry that one of them took over) are serialised by processed_events'
// primary key: the second waits for the first and sees the id fresh only
// if the first rolled back.
//
// Errors: a PostgreSQL outage (postgres.IsUnavailable), in effect or in
// Apply's own steps, is returned marked stream.Unavailable, so the
// consumer retries the batch until the database is back and never
// dead-letters it for that. Other errors of effect, such as a
// stream.Permanent one, are returned as they are.
func Apply[E any](ctx context.Context, o *Outbox, batch []E, eventID func(E) string, effect Effect[E]) error {
	return unavailable(apply(ctx, o, batch, eventID, effect))
}

func apply[E any](ctx context.Context, o *Outbox, batch []E, eventID func(E) string, effect Effect[E]) error {
	if len(batch) == 0 {
		return nil
	}
	tx, err := o.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("apply events: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit

	ids := make([]string, len(batch))
	for i, e := range batch {
		ids[i] = eventID(e)
	}
	// If this fails, or anything after it, the rollback forgets the ids
	// again and the redelivered batch is fresh.
	isFresh, err := dedupe(ctx, tx, o.seen, ids)
	if err != nil {
		return fmt.Errorf("apply events: %w", err)
	}
	fresh := make([]E, 0, len(isFresh))
	for i, e := range batch {
		if isFresh[ids[i]] {
			delete(isFresh, ids[i]) // a second event with this id in batch is a duplicate
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return nil // every event was applied before; the rollback records nothing new
	}
	msgs, err := effect(ctx, tx, fresh)
	if err != nil {
		return err
	}
	if err := o.Add(ctx, tx, msgs...); err != nil {
		return fmt.Errorf("apply events: %w", err)
	}
	// If the commit's outcome is unknown (the connection broke during it),
	// the error is an outage and the batch is retried: if the commit did
	// happen, the retry finds its ids recorded and does nothing.
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("apply events: commit: %w", err)
	}
	if len(msgs) > 0 {
		o.Kick()
	}
	return nil
}

// unavailable marks a PostgreSQL outage as stream.Unavailable and returns
// every other error as it is.
func unavailable(err error) error {
	if err == nil || stream.IsPermanent(err) || stream.IsUnavailable(err) || !postgres.IsUnavailable(err) {
		return err
	}
	return stream.Unavailable(err)
}

// dedupe records eventIDs in the processed_events table seen, as part of
// tx, and returns those that had not been recorded before.
func dedupe(ctx context.Context, tx pgx.Tx, seen string, eventIDs []string) (map[string]bool, error) {
	rows, err := tx.Query(ctx, `INSERT INTO `+seen+` (event_id)
		SELECT DISTINCT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING event_id`, eventIDs)
	if err != nil {
		return nil, fmt.Errorf("dedupe events: %w", err)
	}
	fresh := make(map[string]bool, len(eventIDs))
	var id string
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { fresh[id] = true; return nil }); err != nil {
		return nil, fmt.Errorf("dedupe events: %w", err)
	}
	return fresh, nil
}
