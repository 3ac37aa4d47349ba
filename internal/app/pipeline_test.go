package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/app"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

func TestConcurrentOrdersReachFinalStatusOnce(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{})
	catalog := s.catalog(40)
	const users, perUser = 10, 15
	var (
		mu     sync.Mutex
		placed []order
		want   = map[string]int64{} // order id → catalog total
	)
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(u), 1))
			for range perUser {
				var items []item
				var total int64
				for _, i := range rng.Perm(len(catalog))[:1+rng.IntN(3)] {
					qty := 1 + rng.IntN(4)
					items = append(items, item{ProductID: catalog[i].ID, Qty: qty})
					total += catalog[i].PriceCents * int64(qty)
				}
				o := s.placeOrder(fmt.Sprintf("user-%d", u), items...)
				mu.Lock()
				placed = append(placed, o)
				want[o.OrderID] = total
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, o := range placed {
		if o.AmountCents != want[o.OrderID] || o.Status != 1 {
			t.Errorf("order %s: amount %d status %d, want %d and CREATED", o.OrderID, o.AmountCents, o.Status, want[o.OrderID])
		}
	}
	testenv.WaitFor(t, 30*time.Second, "every order final", func() bool { return s.notFinal() == 0 })
	s.checkSettled(users * perUser)

	// The API shows the outcome to the order's owner only.
	o := placed[0]
	var got order
	if code := s.call("GET", s.ordersURL()+"/orders/"+o.OrderID, o.UserID, nil, &got); code != 200 || (got.Status != 4 && got.Status != -4) || got.PaymentID == "" {
		t.Errorf("GET own order: %d %+v", code, got)
	}
	var notFound apiError
	if code := s.call("GET", s.ordersURL()+"/orders/"+o.OrderID, "someone-else", nil, &notFound); code != 404 {
		t.Errorf("GET another user's order: status %d, want 404", code)
	}
	var list struct{ Orders []order }
	if code := s.call("GET", s.ordersURL()+"/orders", "someone-else", nil, &list); code != 200 || len(list.Orders) != 0 {
		t.Errorf("another user's list: %d with %d orders, want 200 and none", code, len(list.Orders))
	}
}

// TestPaymentsProcess is the payments service in a child process of
// TestPaymentsKilledMidStream.
func TestPaymentsProcess(t *testing.T) {
	redisURL, dbURL, ordersURL := os.Getenv("SHOP_CHILD_REDIS_URL"), os.Getenv("SHOP_CHILD_DATABASE_URL"), os.Getenv("SHOP_CHILD_ORDERS_URL")
	if redisURL == "" {
		t.Skip("only runs as a child of TestPaymentsKilledMidStream")
	}
	sys, err := app.Start(context.Background(), app.Config{
		RedisURL: redisURL, DatabaseURL: dbURL, Secret: secret, PaymentFailAbove: 50000, Tuning: tuning,
		URLs: map[string]string{app.Orders: ordersURL},
		Log:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}, app.Payments)
	if err != nil {
		t.Fatal(err)
	}
	_ = sys.Wait() // until killed
}

func TestPaymentsKilledMidStream(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{services: []string{app.Products, app.Orders}})
	const n = 300
	s.placeOrders(n, 7, s.catalog(10))
	paid := func() int {
		var c int
		_ = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM payments.payments`).Scan(&c)
		return c
	}

	child := exec.Command(os.Args[0], "-test.run=^TestPaymentsProcess$", "-test.count=1")
	child.Env = append(os.Environ(), "SHOP_CHILD_REDIS_URL="+s.cfg.RedisURL, "SHOP_CHILD_DATABASE_URL="+s.cfg.DatabaseURL,
		"SHOP_CHILD_ORDERS_URL="+s.ordersURL())
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	testenv.WaitFor(t, 30*time.Second, "the child to pay some orders", func() bool { return paid() > 0 })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	t.Logf("payments process killed after paying %d of %d orders", paid(), n)

	s.start(s.cfg, app.Payments)
	testenv.WaitFor(t, 60*time.Second, "every order final", func() bool { return s.notFinal() == 0 })
	s.checkSettled(n)
}

// loader places orders one after another until stopped, remembering
// which were accepted and how the others were refused.
type loader struct {
	mu       sync.Mutex
	accepted int
	refused  map[int]int // status → count
	stop     chan struct{}
	done     chan struct{}
}

func startLoader(s *shop, productID string) *loader {
	l := &loader{refused: map[int]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			var o order
			code := s.call("POST", s.ordersURL()+"/orders", "user-1", map[string]any{"items": []item{{ProductID: productID, Qty: 1}}}, &o)
			l.mu.Lock()
			if code == 201 {
				l.accepted++
			} else {
				l.refused[code]++
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *loader) counts() (accepted int, refused map[int]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := map[int]int{}
	for k, v := range l.refused {
		r[k] = v
	}
	return l.accepted, r
}

func (l *loader) finish() {
	close(l.stop)
	<-l.done
}

func TestPostgresRestartDuringFlow(t *testing.T) {
	t.Parallel()
	pg := testenv.OwnPostgres(t)
	if err := pg.CreateDatabase(context.Background(), "shop"); err != nil {
		t.Fatal(err)
	}
	s := startShop(t, shopOptions{databaseURL: pg.URL("shop")})
	p := s.catalog(1)[0]
	// The catalog cache serves prices while the database is down, so the
	// 503 below comes from the orders database.
	l := startLoader(s, p.ID)
	testenv.WaitFor(t, 20*time.Second, "orders before the outage", func() bool { a, _ := l.counts(); return a >= 30 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "refusals during the outage", func() bool { _, r := l.counts(); return r[503] >= 5 })

	// While the database is down, creating an order fails fast with 503
	// and says why.
	start := time.Now()
	var e apiError
	if code := s.call("POST", s.ordersURL()+"/orders", "user-2", map[string]any{"items": []item{{ProductID: p.ID, Qty: 1}}}, &e); code != 503 || e.Error.Message == "" {
		t.Errorf("create with the database down: %d %+v, want 503 with a message", code, e)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("create with the database down took %v", d)
	}

	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := l.counts()
	testenv.WaitFor(t, 30*time.Second, "orders after the outage", func() bool { a, _ := l.counts(); return a >= before+30 })
	l.finish()
	accepted, refused := l.counts()
	t.Logf("accepted %d orders, refused %v", accepted, refused)
	for code := range refused {
		if code != 503 {
			t.Errorf("refused %d orders with status %d; only 503 is expected", refused[code], code)
		}
	}
	testenv.WaitFor(t, 60*time.Second, "every order final", func() bool { return s.notFinal() == 0 })
	s.checkSettled(accepted) // every accepted order, and nothing of the refused ones
}

func TestRedisRestartedEmptyDuringFlow(t *testing.T) {
	t.Parallel()
	// Payments starts only after Redis lost everything, so no order can be
	// paid from the original events: only the reconciler can finish them.
	s := startShop(t, shopOptions{services: []string{app.Products, app.Orders}})
	const n = 40
	s.placeOrders(n, 3, s.catalog(5))
	// At least n: the reconciler may already have published some again.
	testenv.WaitFor(t, 10*time.Second, "every OrderPlaced published", func() bool {
		return s.redisClient().XLen(t.Context(), "ORDERS_STREAM").Val() >= n
	})
	// A key nobody else writes tells that the restart was empty: the
	// stream may be written again by orders' reconciler at any moment.
	if err := s.redisClient().Set(context.Background(), "test:before-restart", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.redis.Kill(); err != nil {
		t.Fatal(err)
	}
	wipe(t, s.redis)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.redis.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.redisClient().Exists(ctx, "test:before-restart").Val(); got != 0 {
		t.Fatal("Redis kept a key across an empty restart")
	}
	s.start(s.cfg, app.Payments)
	testenv.WaitFor(t, 60*time.Second, "every order final", func() bool { return s.notFinal() == 0 })
	s.checkSettled(n)
}

func TestCreateOrderRejectsBadInput(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{services: []string{app.Products, app.Orders}})
	p := s.catalog(2)
	good, other := p[0], p[1]
	wrongPrice := good.PriceCents + 1
	var items51 []map[string]any
	for i := range 51 {
		items51 = append(items51, map[string]any{"productId": fmt.Sprintf("p-%05d", i+1), "qty": 1})
	}
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"invalid json", []byte(`{"items": [`), 400, "invalid_json"},
		{"not an object", []byte(`[1, 2]`), 400, "invalid_json"},
		{"empty body", []byte(``), 400, "invalid_json"},
		{"two values", []byte(`{"items": []} {}`), 400, "invalid_json"},
		{"unknown field", map[string]any{"items": []item{{ProductID: good.ID, Qty: 1}}, "discount": 50}, 400, "unknown_field"},
		{"qty is a string", []byte(`{"items": [{"productId": "` + good.ID + `", "qty": "two"}]}`), 400, "invalid_field"},
		{"qty is fractional", []byte(`{"items": [{"productId": "` + good.ID + `", "qty": 1.5}]}`), 400, "invalid_field"},
		{"qty overflows", []byte(`{"items": [{"productId": "` + good.ID + `", "qty": 1e30}]}`), 400, "invalid_field"},
		{"zero qty", map[string]any{"items": []item{{ProductID: good.ID, Qty: 0}}}, 400, "invalid_qty"},
		{"negative qty", map[string]any{"items": []item{{ProductID: good.ID, Qty: -3}}}, 400, "invalid_qty"},
		{"huge qty", map[string]any{"items": []item{{ProductID: good.ID, Qty: 100}}}, 400, "invalid_qty"},
		{"empty cart", map[string]any{"items": []item{}}, 400, "empty_order"},
		{"no items field", map[string]any{}, 400, "empty_order"},
		{"too many items", map[string]any{"items": items51}, 400, "too_many_items"},
		{"duplicate product", map[string]any{"items": []item{{ProductID: good.ID, Qty: 1}, {ProductID: good.ID, Qty: 2}}}, 400, "duplicate_product"},
		{"unknown product", map[string]any{"items": []item{{ProductID: "p-99999", Qty: 1}}}, 422, "unknown_product"},
		{"unicode product id", map[string]any{"items": []item{{ProductID: "p-ü日本", Qty: 1}}}, 400, "invalid_product_id"},
		{"empty product id", map[string]any{"items": []item{{ProductID: "", Qty: 1}}}, 400, "invalid_product_id"},
		{"tampered price", map[string]any{"items": []item{{ProductID: good.ID, Qty: 1, PriceCents: &wrongPrice}, {ProductID: other.ID, Qty: 1}}}, 409, "price_changed"},
		{"negative price", []byte(`{"items": [{"productId": "` + good.ID + `", "qty": 1, "priceCents": -5}]}`), 400, "invalid_price"},
		{"price as decimal", []byte(`{"items": [{"productId": "` + good.ID + `", "qty": 1, "priceCents": 39.99}]}`), 400, "invalid_field"},
		{"oversized body", []byte(`{"items": [` + strings.Repeat(`{"productId": "p-00001", "qty": 1},`, 2000) + `]}`), 413, "body_too_large"},
	}
	for _, tt := range tests {
		var e apiError
		code := s.call("POST", s.ordersURL()+"/orders", "user-1", tt.body, &e)
		if code != tt.status || e.Error.Code != tt.code || e.Error.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s with a message", tt.name, code, e.Error, tt.status, tt.code)
		}
	}
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM orders.orders) + (SELECT count(*) FROM orders.outbox)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rejected requests stored %d rows (%v), want none", n, err)
	}

	// Without a valid identity from the gateway: 401.
	for _, header := range []string{"", "forged.signature"} {
		var e apiError
		code := s.call("POST", s.ordersURL()+"/orders", "", map[string]any{"items": []item{{ProductID: good.ID, Qty: 1}}}, &e, "X-Streamcart-Identity", header)
		if code != 401 {
			t.Errorf("identity %q: status %d, want 401", header, code)
		}
	}

	// The right price is accepted, and a retry with the same key returns
	// the same order.
	price := good.PriceCents
	body := map[string]any{"items": []item{{ProductID: good.ID, Qty: 2, PriceCents: &price}}}
	var first, again order
	if code := s.call("POST", s.ordersURL()+"/orders", "user-1", body, &first, "Idempotency-Key", "k-1"); code != 201 || first.AmountCents != 2*price {
		t.Fatalf("create with key: %d %+v", code, first)
	}
	if code := s.call("POST", s.ordersURL()+"/orders", "user-1", body, &again, "Idempotency-Key", "k-1"); code != 200 || again.OrderID != first.OrderID {
		t.Errorf("retry with the same key: %d %s, want 200 and order %s", code, again.OrderID, first.OrderID)
	}
	changed := map[string]any{"items": []item{{ProductID: good.ID, Qty: 3}}}
	s.wantRefused("same key, other order", "POST", s.ordersURL()+"/orders", "user-1", changed, 422, "idempotency_key_reused", "Idempotency-Key", "k-1")
}

// TestEntryClaimedWhileProcessing has a second payments replica take over
// an entry while the first is still paying it (its transaction waits on a
// lock the test holds, as a stalled process would), then lets both finish:
// the order is paid once and announced once.
func TestEntryClaimedWhileProcessing(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{services: []string{app.Products, app.Orders}})
	ctx := context.Background()

	slow := s.cfg
	slow.Tuning.Consumer = stream.Config{MinIdle: 30 * time.Second, HandlerTimeout: 10 * time.Second, ClaimInterval: 10 * time.Second}
	s.start(slow, app.Payments)

	lock, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := lock.Exec(ctx, `LOCK TABLE payments.payments IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	o := s.placeOrder("user-1", item{ProductID: s.catalog(1)[0].ID, Qty: 1})

	eager := s.cfg
	eager.Tuning.Consumer = stream.Config{MinIdle: 300 * time.Millisecond, HandlerTimeout: 100 * time.Millisecond,
		ClaimInterval: 100 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 80 * time.Millisecond}
	s.start(eager, app.Payments)
	rdb := s.redisClient()
	testenv.WaitFor(t, 10*time.Second, "the second replica to claim the entry", func() bool {
		p, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "ORDERS_STREAM", Group: "payments", Start: "-", End: "+", Count: 1}).Result()
		return err == nil && len(p) == 1 && p[0].RetryCount >= 2
	})
	if err := lock.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "the order final", func() bool { return s.notFinal() == 0 })
	s.checkSettled(1)
	testenv.WaitFor(t, 10*time.Second, "the entry acknowledged", func() bool {
		g, err := stream.Inspect(ctx, rdb, "ORDERS_STREAM")
		for _, gi := range g.Groups {
			if gi.Name == "payments" {
				return err == nil && gi.Pending == 0
			}
		}
		return false
	})
	entries, err := rdb.XRange(ctx, "PAYMENTS_STREAM", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Values["orderId"] != o.OrderID {
		t.Errorf("PAYMENTS_STREAM has %d entries, want one for order %s", len(entries), o.OrderID)
	}
	if n := rdb.XLen(ctx, stream.DeadLetterStream("ORDERS_STREAM")).Val(); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}
