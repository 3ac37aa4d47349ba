package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what the queries need: a pool or a transaction.
//
// Lookups by a set of keys (= ANY($1)) pass pgx.QueryExecModeExec: an
// unnamed statement, planned for its arguments each time. A prepared one
// soon gets a generic plan, and a generic plan made while the table was
// nearly empty is a sequential scan that PostgreSQL keeps after the table
// has grown (seen under load: 4 ms instead of 0.1 ms a batch).
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// execer runs a statement: a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const (
	identityColumns = `user_id, session_id, fingerprint, ip, first_seen, last_seen`
	scoreColumns    = `order_id, user_id, score, potential_fraud, fingerprint, ip, scored_at`
)

// upsertIdentities records logins in one statement. A login whose user,
// fingerprint and address are known widens the identity's first and last
// seen times; the session follows the latest login. logins must not hold
// one identity twice (see merge), as one statement cannot update a row
// twice.
func upsertIdentities(ctx context.Context, q execer, logins []LoginIdentity) error {
	var (
		users, sessions, fps, ips = make([]string, len(logins)), make([]string, len(logins)), make([]string, len(logins)), make([]string, len(logins))
		firsts, lasts             = make([]time.Time, len(logins)), make([]time.Time, len(logins))
	)
	for i, l := range logins {
		users[i], sessions[i], fps[i], ips[i] = l.UserID, l.SessionID, l.Fingerprint, l.IP
		firsts[i], lasts[i] = l.FirstSeen, l.LastSeen
	}
	// The WHERE clause leaves a row alone when nothing would change, so a
	// redelivered login writes no new row version.
	_, err := q.Exec(ctx, `INSERT INTO identity.login_identities AS li (`+identityColumns+`)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
		ON CONFLICT (user_id, fingerprint, ip) DO UPDATE SET
			session_id = CASE WHEN excluded.last_seen > li.last_seen THEN excluded.session_id ELSE li.session_id END,
			first_seen = least(li.first_seen, excluded.first_seen),
			last_seen  = greatest(li.last_seen, excluded.last_seen)
		WHERE excluded.last_seen > li.last_seen OR excluded.first_seen < li.first_seen`,
		users, sessions, fps, ips, firsts, lasts)
	if err != nil {
		return fmt.Errorf("upsert login identities: %w", err)
	}
	return nil
}

// merge folds logins of the same identity into one, keeping the earliest
// first-seen time, the latest last-seen time and the latest session. The
// order of first occurrence is kept.
func merge(logins []LoginIdentity) []LoginIdentity {
	type key struct{ user, fp, ip string }
	at := make(map[key]int, len(logins))
	out := make([]LoginIdentity, 0, len(logins))
	for _, l := range logins {
		k := key{l.UserID, l.Fingerprint, l.IP}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, l)
			continue
		}
		m := &out[i]
		if l.FirstSeen.Before(m.FirstSeen) {
			m.FirstSeen = l.FirstSeen
		}
		if l.LastSeen.After(m.LastSeen) {
			m.LastSeen, m.SessionID = l.LastSeen, l.SessionID
		}
	}
	return out
}

// identitiesOf returns the login identities of userID, most recently seen
// first.
func identitiesOf(ctx context.Context, q querier, userID string) ([]LoginIdentity, error) {
	rows, err := q.Query(ctx, `SELECT `+identityColumns+` FROM identity.login_identities
		WHERE user_id = $1 ORDER BY last_seen DESC, fingerprint, ip`, userID)
	if err != nil {
		return nil, err
	}
	return collectIdentities(rows)
}

// identitiesByUser returns the login identities of the given users, by
// user id. Users without any are absent.
func identitiesByUser(ctx context.Context, q querier, userIDs []string) (map[string][]LoginIdentity, error) {
	rows, err := q.Query(ctx, `SELECT `+identityColumns+` FROM identity.login_identities WHERE user_id = ANY($1)`, pgx.QueryExecModeExec, userIDs)
	if err != nil {
		return nil, fmt.Errorf("read login identities: %w", err)
	}
	ids, err := collectIdentities(rows)
	if err != nil {
		return nil, fmt.Errorf("read login identities: %w", err)
	}
	byUser := make(map[string][]LoginIdentity)
	for _, id := range ids {
		byUser[id.UserID] = append(byUser[id.UserID], id)
	}
	return byUser, nil
}

func collectIdentities(rows pgx.Rows) ([]LoginIdentity, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (LoginIdentity, error) {
		var l LoginIdentity
		err := row.Scan(&l.UserID, &l.SessionID, &l.Fingerprint, &l.IP, &l.FirstSeen, &l.LastSeen)
		return l, err
	})
}

// insertScores inserts scores in one statement, skipping those whose order
// already has one, and returns the inserted ones by order id. scores must
// not hold an order twice.
func insertScores(ctx context.Context, tx pgx.Tx, scores []Score) (map[string]Score, error) {
	if len(scores) == 0 {
		return map[string]Score{}, nil
	}
	var (
		orders, users, fps, ips = make([]string, len(scores)), make([]string, len(scores)), make([]string, len(scores)), make([]string, len(scores))
		values                  = make([]float64, len(scores))
		frauds                  = make([]bool, len(scores))
		times                   = make([]time.Time, len(scores))
	)
	for i, s := range scores {
		orders[i], users[i], fps[i], ips[i] = s.OrderID, s.UserID, s.Fingerprint, s.IP
		values[i], frauds[i], times[i] = s.Value, s.PotentialFraud, s.ScoredAt
	}
	rows, err := tx.Query(ctx, `INSERT INTO identity.order_scores (`+scoreColumns+`)
		SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::bool[], $5::text[], $6::text[], $7::timestamptz[])
		ON CONFLICT (order_id) DO NOTHING
		RETURNING `+scoreColumns,
		orders, users, values, frauds, fps, ips, times)
	if err != nil {
		return nil, fmt.Errorf("insert scores: %w", err)
	}
	inserted, err := collectScores(rows)
	if err != nil {
		return nil, fmt.Errorf("insert scores: %w", err)
	}
	return inserted, nil
}

// scoresByOrder returns the scores of the given orders, by order id.
// Orders without one are absent.
func scoresByOrder(ctx context.Context, q querier, orderIDs []string) (map[string]Score, error) {
	rows, err := q.Query(ctx, `SELECT `+scoreColumns+` FROM identity.order_scores WHERE order_id = ANY($1)`, pgx.QueryExecModeExec, orderIDs)
	if err != nil {
		return nil, err
	}
	return collectScores(rows)
}

// collectScores scans rows of scoreColumns into a map by order id and
// closes them.
func collectScores(rows pgx.Rows) (map[string]Score, error) {
	scores, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Score, error) {
		var s Score
		err := row.Scan(&s.OrderID, &s.UserID, &s.Value, &s.PotentialFraud, &s.Fingerprint, &s.IP, &s.ScoredAt)
		return s, err
	})
	if err != nil {
		return nil, err
	}
	byOrder := make(map[string]Score, len(scores))
	for _, s := range scores {
		byOrder[s.OrderID] = s
	}
	return byOrder, nil
}

// expireBatch is how many login identities one statement of
// deleteIdentitiesSeenBefore deletes, so that no statement holds its
// locks for long.
const expireBatch = 5000

// deleteIdentitiesSeenBefore deletes the login identities last seen
// before cutoff, in statements of at most batch rows (each its own
// transaction), and returns how many it deleted. A failure leaves the
// batches before it deleted.
func deleteIdentitiesSeenBefore(ctx context.Context, q execer, cutoff time.Time, batch int) (int64, error) {
	var total int64
	for {
		tag, err := q.Exec(ctx, `DELETE FROM identity.login_identities WHERE (user_id, fingerprint, ip) IN (
			SELECT user_id, fingerprint, ip FROM identity.login_identities WHERE last_seen < $1 LIMIT $2)`, cutoff, batch)
		if err != nil {
			return total, fmt.Errorf("delete login identities seen before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}
