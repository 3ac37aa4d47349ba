package orders_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"streamcart/internal/orders"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
)

// throughProxy returns a copy of e whose service reaches the database
// through a testenv.Proxy, and the proxy, to break its connections. The
// pool sends each statement in one write (pgx.QueryExecModeExec), so
// that the proxy recognises it.
func (e *env) throughProxy(t *testing.T) (*env, *testenv.Proxy) {
	t.Helper()
	pool, proxy := testenv.PoolThroughProxy(t, e.pool)
	svc, err := orders.NewService(pool, e.rdb, e.cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	cut := *e
	cut.pool, cut.svc = pool, svc
	cut.api = httptest.NewServer(orders.NewHandler(svc, e.signer))
	t.Cleanup(cut.api.Close)
	return &cut, proxy
}

// ordersWithKey counts userID's orders with an idempotency key, with
// their OrderPlaced events in the outbox, in e's database.
func (e *env) ordersWithKey(t *testing.T, userID, key string) (orderRows, events int) {
	t.Helper()
	err := e.pool.QueryRow(t.Context(), `
		SELECT count(DISTINCT o.order_id), count(x.id)
		FROM orders.orders o LEFT JOIN orders.outbox x ON x.fields::text LIKE '%' || o.order_id || '%'
		WHERE o.user_id = $1 AND o.idempotency_key = $2`, userID, key).Scan(&orderRows, &events)
	if err != nil {
		t.Fatal(err)
	}
	return orderRows, events
}

func TestAnOrderCutOffMidInsertIsAnUnknownOutcomeThatARetryWithItsKeySettles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cut, proxy := e.throughProxy(t)
	req := cart(1, forSale(t, 1)...)
	for _, tt := range []struct {
		name   string
		brk    func(text string) <-chan struct{}
		stored bool
		retry  int // the retry's status: 200 for the stored order, 201 for a new one
	}{
		{"stored, the answer lost", proxy.BreakAfter, true, http.StatusOK},
		{"lost on the way to the database", proxy.BreakBefore, false, http.StatusCreated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := "key " + tt.name
			broken := tt.brk("INSERT INTO orders.orders")
			r := cut.create(t, "alice", key, req)
			<-broken
			if r.status != http.StatusServiceUnavailable || r.code() != "outcome_unknown" || r.retryAfter == "" ||
				!strings.Contains(string(r.body), "retry with the same Idempotency-Key") {
				t.Fatalf("POST /orders cut off = %d %s (Retry-After %q), want 503 outcome_unknown telling to retry with the key",
					r.status, r.body, r.retryAfter)
			}
			if tt.stored {
				testenv.WaitFor(t, waitLong, "the order stored", func() bool { n, _ := e.ordersWithKey(t, "alice", key); return n == 1 })
			} else if n, _ := e.ordersWithKey(t, "alice", key); n != 0 {
				t.Fatalf("%d orders stored, want none", n)
			}

			again := cut.create(t, "alice", key, req)
			if again.status != tt.retry {
				t.Fatalf("the retry with the same key = %d %s, want %d", again.status, again.body, tt.retry)
			}
			again2 := cut.create(t, "alice", key, req)
			if again2.status != http.StatusOK || again2.order(t).ID != again.order(t).ID {
				t.Errorf("another retry = %d %s, want 200 with order %s", again2.status, again2.body, again.order(t).ID)
			}
			if n, ev := e.ordersWithKey(t, "alice", key); n != 1 || ev != 1 {
				t.Errorf("%d orders with the key and %d OrderPlaced events, want 1 and 1", n, ev)
			}
		})
	}

	t.Run("without a key", func(t *testing.T) {
		broken := proxy.BreakAfter("INSERT INTO orders.orders")
		r := cut.create(t, "bob", "", req)
		<-broken
		var body web.ErrorBody
		testenv.DecodeJSON(t, r.body, &body)
		if r.status != http.StatusServiceUnavailable || body.Error.Code != "outcome_unknown" ||
			!strings.Contains(body.Error.Message, "look at your orders") {
			t.Errorf("POST /orders without a key cut off = %d %s, want 503 outcome_unknown telling to look first", r.status, r.body)
		}
	})

	t.Run("the database down before the insert", func(t *testing.T) {
		// A failure to connect is a plain outage: nothing was sent.
		proxy.Refuse(true)
		defer proxy.Refuse(false)
		cut.pool.Reset()
		r := cut.create(t, "carol", "k", req)
		if r.status != http.StatusServiceUnavailable || r.code() != "unavailable" || r.retryAfter == "" {
			t.Errorf("POST /orders with the database unreachable = %d %s (Retry-After %q), want 503 unavailable",
				r.status, r.body, r.retryAfter)
		}
	})
}
