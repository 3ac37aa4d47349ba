package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/stream"
)

// handleTransactions is the batch handler of the transaction stream. It
// records the batch's logins in one statement and ignores every other
// event type. It is all or nothing, as stream.BatchHandler requires. A
// malformed LoginIdentityRecorded fails the whole batch with a permanent
// error. The consumer then hands the entries back one at a time, which
// dead-letters just that one.
func (s *Service) handleTransactions(ctx context.Context, msgs []stream.Message) error {
	logins, err := events.ParseAll(msgs, events.TypeLoginIdentityRecorded, parseLogin)
	if err != nil {
		return err // permanent already
	}
	if ignored := len(msgs) - len(logins); ignored > 0 {
		s.log.DebugContext(ctx, "ignoring events of other types", "events", ignored)
	}
	if len(logins) == 0 {
		return nil
	}
	// The upsert is idempotent on its own: it only moves an identity's
	// times and session forward. So logins need no processed_events.
	err = upsertIdentities(ctx, s.pool, merge(logins))
	if postgres.IsUnavailable(err) {
		return stream.Unavailable(err)
	}
	if err != nil {
		return err
	}
	s.log.DebugContext(ctx, "login identities recorded", "events", len(logins))
	return nil
}

// parseLogin decodes a LoginIdentityRecorded into the identity it
// records, seen at the event's time. Its errors are permanent.
func parseLogin(m stream.Message) (LoginIdentity, error) {
	e, err := events.ParseLoginIdentityRecorded(m)
	if err != nil {
		return LoginIdentity{}, err
	}
	// The action is redundant with the type. A producer that sets another
	// action means something this service does not know.
	if a := m.Fields["action"]; a != "" && a != events.ActionInsertLoginIdentity {
		return LoginIdentity{}, stream.Permanent(fmt.Errorf("%w %s %s: action is %q, not %s",
			events.ErrInvalid, events.TypeLoginIdentityRecorded, m.ID, a, events.ActionInsertLoginIdentity))
	}
	return LoginIdentity{
		UserID:      e.UserID,
		SessionID:   e.SessionID,
		Fingerprint: Fingerprint(e.UserAgent),
		IP:          normalizeIP(e.IP),
		FirstSeen:   m.Time,
		LastSeen:    m.Time,
	}, nil
}

// handleOrders is the batch handler of the orders stream. A malformed
// OrderPlaced, or one whose order the orders service does not have as
// the event says, fails the whole batch with a permanent error, as in
// handleTransactions. When orders must wait for their user's first login
// identity, the rest of the batch is scored and committed. The batch is
// then deferred (stream.Defer), so that the consumer retries it after a
// fifth of the grace period, without counting a delivery or warning.
// Its scored events are duplicates by then and have no further effect.
func (s *Service) handleOrders(ctx context.Context, msgs []stream.Message) error {
	batch, err := events.ParsePlaced(msgs, s.cfg.OrderKey)
	if err != nil || len(batch) == 0 {
		return err // a parse error is permanent already
	}
	waiting, err := s.score(ctx, batch, time.Now())
	if err != nil {
		return err
	}
	if waiting > 0 {
		return stream.Defer(fmt.Errorf("%d of %d OrderPlaced events wait up to %v for their user's first login identity",
			waiting, len(batch), s.cfg.Grace), s.cfg.Grace/5)
	}
	return nil
}

// score scores the orders of batch whose events are new, with outbox.Apply,
// announcing with one IdentityScored per new event the score it made or
// the one the order already had. Orders that must wait for their user's
// first login identity (mustWait at now) are left out, events and all, so
// that their ids are not recorded as processed; score returns how many
// events those are. The others are first checked with the orders service,
// in one call (ordercheck.Check): a refused one fails the batch with a
// permanent error before anything is recorded.
//
// The stored scores and the users' identities are read before Apply's
// transaction begins, because who waits must be known before the ids are
// recorded. Reading them in the transaction would be no safer: it runs at
// READ COMMITTED, where each statement sees what was committed when the
// statement began, not when the transaction did. What settles a race with
// another replica scoring the same order is, in the transaction, the
// insert (ON CONFLICT (order_id) DO NOTHING) and addConcurrent after it. A
// batch whose orders all wait opens no transaction.
func (s *Service) score(ctx context.Context, batch []events.Placed, now time.Time) (waiting int, err error) {
	// PostgreSQL keeps microseconds. Truncating here makes the stored
	// scored_at the very time the grace was judged at.
	now = now.Truncate(time.Microsecond)
	byOrder, known, err := s.readForScoring(ctx, batch)
	if postgres.IsUnavailable(err) {
		return 0, stream.Unavailable(err) // as outbox.Apply does for its statements
	}
	if err != nil {
		return 0, err
	}

	// An order that has a score never waits: its score is settled.
	ready := make([]events.Placed, 0, len(batch))
	for _, p := range batch {
		_, scored := byOrder[p.Order.OrderID]
		if !scored && mustWait(len(known[p.Order.UserID]) > 0, p.Order.CreatedOn, now, s.cfg.Grace) {
			waiting++
			s.log.DebugContext(ctx, "order waits for its user's first login identity",
				"order_id", p.Order.OrderID, "user_id", p.Order.UserID, "created_on", p.Order.CreatedOn)
			continue
		}
		ready = append(ready, p)
	}

	// Only the orders about to be scored are checked: an order that
	// waits is asked about when it is ready, not at every retry.
	if err := ordercheck.Check(ctx, s.cfg.Orders, ready); err != nil {
		return waiting, err // permanent for a refused order, Unavailable when orders cannot tell
	}
	err = outbox.Apply(ctx, s.outbox, ready, func(p events.Placed) string { return p.EventID }, s.scoreFresh(byOrder, known, now))
	return waiting, err
}

// scoreFresh returns the effect of score: it inserts a score for each
// order of the fresh events that has none (byOrder) yet, from its user's
// login identities (known) at now, and returns one IdentityScored per
// event.
func (s *Service) scoreFresh(byOrder map[string]Score, known map[string][]LoginIdentity, now time.Time) outbox.Effect[events.Placed] {
	return func(ctx context.Context, tx pgx.Tx, fresh []events.Placed) ([]*outbox.Message, error) {
		planned := make(map[string]bool, len(fresh))
		var scores []Score
		for _, p := range fresh {
			id := p.Order.OrderID
			if _, ok := byOrder[id]; ok || planned[id] {
				continue // the stored score, or the first event of the order in the batch, decides
			}
			planned[id] = true
			scores = append(scores, newScore(p.Order, known[p.Order.UserID], now, s.cfg.FraudThreshold))
		}
		inserted, err := insertScores(ctx, tx, scores)
		if err != nil {
			return nil, fmt.Errorf("score orders: %w", err)
		}
		for id, sc := range inserted {
			byOrder[id] = sc
		}
		if len(inserted) < len(scores) {
			if err := addConcurrent(ctx, tx, scores, byOrder); err != nil {
				return nil, fmt.Errorf("score orders: %w", err)
			}
		}
		msgs := outbox.On(s.cfg.TransactionStream, events.Answer(fresh, func(o events.OrderPlaced) stream.Event {
			return byOrder[o.OrderID].scored().Event()
		}))
		s.log.DebugContext(ctx, "scoring orders", "events", len(fresh), "created", len(inserted),
			"announced_again", len(fresh)-len(inserted))
		return msgs, nil
	}
}

// readForScoring returns the stored scores of batch's orders and the login
// identities of their users.
func (s *Service) readForScoring(ctx context.Context, batch []events.Placed) (map[string]Score, map[string][]LoginIdentity, error) {
	orderIDs := make([]string, 0, len(batch))
	userIDs := make([]string, 0, len(batch))
	for _, p := range batch {
		orderIDs = append(orderIDs, p.Order.OrderID)
		userIDs = append(userIDs, p.Order.UserID)
	}
	byOrder, err := scoresByOrder(ctx, s.pool, orderIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("score orders: read scores: %w", err)
	}
	known, err := identitiesByUser(ctx, s.pool, userIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("score orders: %w", err)
	}
	return byOrder, known, nil
}

// addConcurrent adds to byOrder the scores of orders of scores that the
// insert skipped. A concurrent transaction (another replica, handling
// another event of the same order) committed them after this one read the
// stored scores. It runs as a statement of its own, after the insert, so
// that it sees them.
func addConcurrent(ctx context.Context, q querier, scores []Score, byOrder map[string]Score) error {
	var missing []string
	for _, sc := range scores {
		if _, ok := byOrder[sc.OrderID]; !ok {
			missing = append(missing, sc.OrderID)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	existing, err := scoresByOrder(ctx, q, missing)
	if err != nil {
		return fmt.Errorf("read concurrent scores: %w", err)
	}
	for _, id := range missing {
		sc, ok := existing[id]
		if !ok {
			return fmt.Errorf("order %s: score neither inserted nor found", id)
		}
		byOrder[id] = sc
	}
	return nil
}
