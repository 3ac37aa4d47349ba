package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"streamcart/internal/app"
	"streamcart/internal/events"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// checkoutLoad is shoppers placing orders through the gateway, one after
// another, each with an Idempotency-Key of its own, as a careful client
// does: an order answered 503 or 429 is sent again with the same key until
// it is answered 2xx. It records every answer.
type checkoutLoad struct {
	s       *shop
	product string
	stop    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	statuses map[int]int       // status → answers
	bad      []string          // answers that break the rules: a 5xx but 503, a 503 without Retry-After
	unknown  int               // 503 outcome_unknown answers
	orders   map[string]string // key → the order id of its 2xx answer
	given    map[string]int    // key → the 4xx (but 429) that ended it without an order
	failed   []error           // requests that could not be sent
}

// startCheckoutLoad starts n shoppers, each with a session of its own.
func startCheckoutLoad(s *shop, product string, n int) *checkoutLoad {
	l := &checkoutLoad{
		s: s, product: product, stop: make(chan struct{}),
		statuses: map[int]int{}, orders: map[string]string{}, given: map[string]int{},
	}
	for i := range n {
		sh := s.shopper(fmt.Sprintf("load-%d", i), fmt.Sprintf("198.51.100.%d", i+1))
		l.wg.Go(func() { l.run(sh, i) })
	}
	return l
}

// run places orders as sh until stopped, finishing the order in hand:
// its last answer is a 2xx or a 4xx other than 429.
func (l *checkoutLoad) run(sh *shopper, client int) {
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			return
		default:
		}
		key := fmt.Sprintf("client-%d-order-%d", client, n)
		for {
			status, orderID, err := l.place(sh, key)
			if err != nil {
				l.mu.Lock()
				l.failed = append(l.failed, err)
				l.mu.Unlock()
				return
			}
			if status < 300 {
				l.mu.Lock()
				l.orders[key] = orderID
				l.mu.Unlock()
				break
			}
			if status < 500 && status != http.StatusTooManyRequests {
				l.mu.Lock()
				l.given[key] = status
				l.mu.Unlock()
				break
			}
			// 503 or 429: a real client waits Retry-After; a test
			// client hurries, to press the database as it comes back,
			// but stays under the session's rate limit.
			time.Sleep(30 * time.Millisecond)
		}
	}
}

// place sends one order with key and records the answer.
func (l *checkoutLoad) place(sh *shopper, key string) (int, string, error) {
	body, _ := json.Marshal(map[string]any{"items": []item{{ProductID: l.product, Qty: 1}}})
	req, err := http.NewRequestWithContext(l.s.t.Context(), "POST", l.s.sys.URLs[app.Gateway]+"/api/v1/orders", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+sh.token)
	req.Header.Set("User-Agent", sh.agent)
	req.Header.Set("X-Forwarded-For", sh.ip)
	req.Header.Set("Idempotency-Key", key)
	resp, err := l.s.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("POST /api/v1/orders %s: %w", key, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("POST /api/v1/orders %s: read answer: %w", key, err)
	}
	var answer struct {
		order
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(data, &answer)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[resp.StatusCode]++
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
		l.bad = append(l.bad, fmt.Sprintf("503 without Retry-After: %s", data))
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable:
		l.bad = append(l.bad, fmt.Sprintf("%d: %s", resp.StatusCode, data))
	case resp.StatusCode < 300 && answer.OrderID == "":
		l.bad = append(l.bad, fmt.Sprintf("%d without an order: %s", resp.StatusCode, data))
	}
	if answer.Error.Code == "outcome_unknown" {
		l.unknown++
	}
	return resp.StatusCode, answer.OrderID, nil
}

// count returns the answers with status.
func (l *checkoutLoad) count(status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statuses[status]
}

// placed returns how many orders were answered 2xx.
func (l *checkoutLoad) placed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.orders)
}

// finish stops the shoppers and waits until each has finished the order in
// hand.
func (l *checkoutLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

func TestADatabaseCrashUnderLoadAnswersNo500AndEveryAcceptedOrderEndsFinalOnce(t *testing.T) {
	t.Parallel()
	pg := testenv.OwnPostgres(t)
	if err := pg.CreateDatabase(t.Context(), "shop"); err != nil {
		t.Fatal(err)
	}
	s := startShop(t, shopOptions{databaseURL: pg.URL("shop"), trustProxy: true})
	p := s.catalog(1)[0]
	l := startCheckoutLoad(s, p.ID, 10)
	testenv.WaitFor(t, 30*time.Second, "orders before the crash", func() bool { return l.placed() >= 30 })

	// pg_ctl stop -m immediate: statements in flight break mid-way.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := pg.StopImmediate(ctx); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	testenv.WaitFor(t, 30*time.Second, "refusals during the outage, for a few seconds", func() bool {
		return l.count(http.StatusServiceUnavailable) >= 10 && time.Since(down) >= 3*time.Second
	})
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	after := l.placed()
	testenv.WaitFor(t, 60*time.Second, "orders after the restart", func() bool { return l.placed() >= after+30 })
	l.finish()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("answers %v; %d orders placed, %d answers outcome_unknown, %d keys given up %v",
		l.statuses, len(l.orders), l.unknown, len(l.given), l.given)
	for _, b := range l.bad {
		t.Errorf("an answer a client must never get: %s", b)
	}
	for _, err := range l.failed {
		t.Errorf("a request failed: %v", err)
	}

	// Every key answered 2xx has exactly one order, the one answered; a key
	// given up on has none or one.
	rows, err := s.pool.Query(t.Context(), `SELECT idempotency_key, count(*), min(order_id) FROM orders.orders GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	storedID := map[string]string{}
	for rows.Next() {
		var (
			key, id string
			n       int
		)
		if err := rows.Scan(&key, &n, &id); err != nil {
			t.Fatal(err)
		}
		stored[key], storedID[key] = n, id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for key, n := range stored {
		total += n
		if _, answered := l.orders[key]; !answered && l.given[key] == 0 {
			t.Errorf("key %s: %d orders stored, but the client never got one", key, n)
		}
		if n != 1 {
			t.Errorf("key %s: %d orders stored, want 1", key, n)
		}
	}
	for key, id := range l.orders {
		if stored[key] != 1 || storedID[key] != id {
			t.Errorf("key %s answered order %s; stored %d orders (%s)", key, id, stored[key], storedID[key])
		}
	}
	testenv.WaitFor(t, 90*time.Second, "every order final", func() bool { return s.notFinal() == 0 })
	s.checkSettled(total) // one payment each, matching the order

	// The consumers took the crash for an outage and retried: none
	// counted it toward dead-lettering an entry.
	rdb := s.redisClient()
	for _, name := range []string{events.OrdersStream, events.PaymentsStream, events.TransactionStream} {
		if n := rdb.XLen(t.Context(), stream.DeadLetterStream(name)).Val(); n != 0 {
			t.Errorf("%d entries of %s dead-lettered", n, name)
		}
	}
}
