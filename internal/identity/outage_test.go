package identity_test

import (
	"strconv"
	"testing"
	"time"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
)

// throughProxy makes e's pool reach the database through a testenv.Proxy,
// which it returns, to break its connections. The pool sends each
// statement in one write (pgx.QueryExecModeExec), so that the proxy
// recognises it.
func (e *env) throughProxy(t *testing.T) *testenv.Proxy {
	t.Helper()
	pool, proxy := testenv.PoolThroughProxy(t, e.Pool)
	e.Pool = pool
	return proxy
}

// TestAConnectionBrokenMidStatementIsAnOutageNeverAFailedDelivery breaks
// the connection under each statement identity runs before outbox.Apply
// (the login upsert and the reads for scoring): each must be retried as
// an outage. With MaxDeliveries 1, an ordinary failure would dead-letter
// the entry at once.
func TestAConnectionBrokenMidStatementIsAnOutageNeverAFailedDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxy := e.throughProxy(t)
	e.cfg.Consumer.MaxDeliveries = 1
	e.cfg.Consumer.Block = 100 * time.Millisecond
	e.cfg.Consumer.MinIdle = time.Second
	e.cfg.Consumer.RetryBackoff = 20 * time.Millisecond
	e.cfg.Consumer.MaxRetryBackoff = 200 * time.Millisecond
	svc := e.start(t)
	broken := func(t *testing.T, cut <-chan struct{}) {
		t.Helper()
		select {
		case <-cut:
		case <-time.After(20 * time.Second):
			t.Fatal("the statement never ran")
		}
	}

	cut := proxy.BreakBefore("INSERT INTO identity.login_identities")
	e.Publish(t, e.cfg.TransactionStream, login("ann", firefox, home))
	broken(t, cut)
	waitIdentities(t, svc, "ann", 1)

	for i, statement := range []string{"FROM identity.order_scores", "FROM identity.login_identities"} {
		cut := proxy.BreakBefore(statement)
		id := "o-" + strconv.Itoa(i)
		e.Publish(t, e.cfg.OrdersStream, order(id, "ann", firefox, home).Event(orderKey))
		broken(t, cut)
		waitScore(t, svc, id, 20*time.Second)
	}
	for _, s := range []string{e.cfg.TransactionStream, e.cfg.OrdersStream} {
		if dl := servicetest.DeadLetters(t, e.Redis, s); len(dl) != 0 {
			t.Errorf("%d entries of %s dead-lettered: %+v", len(dl), s, dl)
		}
	}
}
