package identity_test

import (
	"testing"
	"time"

	"streamcart/internal/identity"
	"streamcart/internal/platform/testenv"
)

// Login identities last seen longer ago than LoginRetention are deleted by
// the running service; younger ones stay.
func TestLoginIdentitiesPastRetentionAreDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfg.LoginRetention = time.Hour
	e.cfg.RetentionInterval = 50 * time.Millisecond
	now := time.Now()
	rows := []struct {
		user     string
		lastSeen time.Time
	}{
		{"old", now.Add(-2 * time.Hour)},
		{"older", now.Add(-100 * 24 * time.Hour)},
		{"young", now.Add(-10 * time.Minute)},
	}
	for _, r := range rows {
		if _, err := e.pool.Exec(t.Context(), `INSERT INTO identity.login_identities (user_id, session_id, fingerprint, ip, first_seen, last_seen)
			VALUES ($1, 's', 'f', '192.0.2.1', $2, $2)`, r.user, r.lastSeen); err != nil {
			t.Fatal(err)
		}
	}
	svc := e.start(t)
	testenv.WaitFor(t, 10*time.Second, "the identities past retention to be deleted", func() bool {
		var n int
		if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM identity.login_identities WHERE user_id IN ('old', 'older')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	if ids, err := svc.Identities(t.Context(), "young"); err != nil || len(ids) != 1 {
		t.Errorf("identities of the young user: %v (%v), want the one", ids, err)
	}
}

func TestNegativeRetentionIsInvalid(t *testing.T) {
	t.Parallel()
	for _, cfg := range []identity.Config{{LoginRetention: -time.Hour}, {RetentionInterval: -time.Second}} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", cfg)
		}
	}
}
