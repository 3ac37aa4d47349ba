package storefront_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/app"
	"streamcart/internal/events"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// Browser end-to-end tests: a whole system on its own Redis and database,
// driven through the storefront by headless Chromium.

const operatorToken = "test-operator-token-0123456789"

// tuning makes the system react within a fraction of a second.
var tuning = app.Tuning{
	Consumer: stream.Config{
		Block: 200 * time.Millisecond, MinIdle: time.Second, ClaimInterval: 200 * time.Millisecond,
		HandlerTimeout: 300 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
	},
	Outbox:            outbox.Config{Poll: 50 * time.Millisecond},
	StuckAfter:        time.Minute,
	ReconcileInterval: time.Second,
}

// system is a running streamcart.
type system struct {
	t    *testing.T
	cfg  app.Config
	url  string // the gateway's
	rdb  redis.UniversalClient
	pool *pgxpool.Pool
}

// startSystem starts the services named (all when none) with payments
// failing above failAbove cents.
func startSystem(t *testing.T, failAbove int64, names ...string) *system {
	t.Helper()
	r := testenv.OwnRedis(t, "")
	cfg := app.Config{
		RedisURL:         r.URL(),
		DatabaseURL:      testenv.Postgres(t),
		Secret:           []byte("storefront-test-secret-0123456789"),
		Seed:             true,
		PaymentFailAbove: failAbove,
		ShutdownTimeout:  3 * time.Second,
		Tuning:           tuning,
		OperatorToken:    operatorToken,
		Log:              testenv.Logger(t),
	}
	s := &system{t: t, cfg: cfg}
	sys := s.start(names...)
	s.url = sys.URLs[app.Gateway]
	// Services started later call these ones: payments asks orders
	// whether the orders it is told of exist.
	s.cfg.URLs = maps.Clone(sys.URLs)
	s.rdb = testenv.RedisAt(t, cfg.RedisURL)
	s.pool = testenv.PoolAt(t, cfg.DatabaseURL)
	return s
}

// start starts services of the system's configuration, stopped when the
// test ends.
func (s *system) start(names ...string) *app.System {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sys, err := app.Start(ctx, s.cfg, names...)
	if err != nil {
		cancel()
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		cancel()
		if err := sys.Wait(); err != nil {
			s.t.Errorf("system stopped with: %v", err)
		}
	})
	return sys
}

// chromium returns the path of the browser. Without one the test fails
// in CI and is skipped elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	return testenv.Program(t, "chromium not found; install it with: bash scripts/deps.sh --browser (sudo apt-get install -y chromium)",
		"chromium", "chromium-browser")
}

// browser is one headless Chromium with its own profile, on one tab.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// Bounds of the browser's waits.
const (
	actionTimeout = 60 * time.Second
	waitTimeout   = 90 * time.Second
)

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		// The browser resolves no host name: it can reach 127.0.0.1 only.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser, which lives as long as the
	// context of that action: ctx itself, bounded by a timer.
	start := time.AfterFunc(actionTimeout, cancel)
	err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800))
	if !start.Stop() || err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base}
}

// do runs actions, failing the test after actionTimeout.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// open navigates to path and waits for the page to load.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// eval evaluates expr in the page and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls the JavaScript condition cond until it is true, for up to
// waitTimeout. Errors while a page loads count as false.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("document.readyState === 'complete' && !!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.shot("timeout")
			body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("location.href + '\\n' + document.body.innerText"))
			b.t.Fatalf("browser: timed out after %v waiting for %s (%s); page:\n%s", waitTimeout, what, cond, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click clicks the element that selector finds with a mouse event.
func (b *browser) click(selector string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(selector)))
}

// clickToLoad clicks selector and waits until a new page has loaded.
func (b *browser) clickToLoad(selector string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`window.__oldPage = true`))
	b.click(selector)
	b.waitFor("a new page after clicking "+selector, `!window.__oldPage`)
}

// artifacts is where screenshots go: $TEST_ARTIFACTS, else test-artifacts
// at the root of the repository.
func artifacts(t *testing.T) string {
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshots saves the page at desktop (1280×800) and phone (390×844)
// widths as storefront-<test>-<name>-{desktop,phone}.png.
func (b *browser) screenshots(name string) {
	b.t.Helper()
	b.shotAt(name+"-desktop", 1280, 800, false)
	b.shotAt(name+"-phone", 390, 844, true)
	b.do(chromedp.EmulateViewport(1280, 800))
}

// shot saves the page as it is, at the current width.
func (b *browser) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.save(name, png)
}

func (b *browser) shotAt(name string, w, h int64, mobile bool) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	b.do(chromedp.EmulateViewport(w, h, opts...))
	// Let the layout settle at the new width before capturing.
	b.waitFor("layout at width "+fmt.Sprint(w), fmt.Sprintf("window.innerWidth === %d", w))
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.save(name, png)
}

func (b *browser) save(name string, png []byte) {
	test := strings.NewReplacer("/", "-", " ", "-").Replace(strings.TrimPrefix(b.t.Name(), "TestBrowser"))
	path := filepath.Join(artifacts(b.t), "storefront-"+strings.ToLower(test)+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// fillCart searches for q, adds the first n results to the cart and
// returns their names.
func (b *browser) fillCart(q string, n int) []string {
	b.t.Helper()
	b.open("/")
	b.waitFor("the product grid", `document.querySelectorAll(".product-card").length > 0`)
	b.do(chromedp.SendKeys(chromedp.CSS("#search-q"), q))
	b.waitFor("results for "+q, `location.search.includes("q=`+q+`") && document.querySelector("[data-results-count]").textContent.includes(`+js(q)+`) && !document.querySelector("[data-results]").classList.contains("is-loading")`)
	names := eval[[]string](b, fmt.Sprintf(`[...document.querySelectorAll(".product-card .product-name")].slice(0, %d).map(e => e.textContent)`, n))
	if len(names) < n {
		b.t.Fatalf("search %q found %d products, want at least %d", q, len(names), n)
	}
	for i := range n {
		b.click(fmt.Sprintf(".product-card:nth-child(%d) [data-add-button]", i+1))
		b.waitFor(fmt.Sprintf("cart count %d", i+1), fmt.Sprintf(`document.querySelector("[data-cart-count-n]").textContent === "%d"`, i+1))
	}
	return names
}

// buy opens the cart, sets the first line's quantity to qty and presses
// Buy Now; it returns the new order's id once its page shows.
func (b *browser) buy(qty int) string {
	b.t.Helper()
	b.clickToLoad(`.site-nav a[href="/cart"]`)
	b.waitFor("the cart", `location.pathname === "/cart" && document.querySelector("[data-buy-now]")`)
	if qty > 1 {
		b.do(chromedp.SetValue(chromedp.CSS(".cart-line:first-child [data-qty-input]"), fmt.Sprint(qty)))
		b.clickToLoad(`.cart-line:first-child .qty-form button[type="submit"]`)
		b.waitFor("the new quantity", fmt.Sprintf(`location.pathname === "/cart" && document.querySelector(".cart-line:first-child [data-qty-input]").value === "%d"`, qty))
	}
	b.screenshots("cart")
	b.clickToLoad("[data-buy-now]")
	b.waitFor("the order page", `location.pathname.startsWith("/orders/") && document.querySelector("[data-order-id]")`)
	return eval[string](b, `document.querySelector("[data-order-id]").dataset.orderId`)
}

// TestBrowserCheckout searches, adds two products, changes a quantity,
// presses Buy Now and watches the order page turn PAYMENT_SUCCESS without
// a reload. Payments starts only once the page shows the new order, so
// the change must arrive live.
func TestBrowserCheckout(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, 1_000_000, app.Products, app.Orders, app.History, app.Identity, app.Gateway)
	b := newBrowser(t, sys.url)

	b.open("/")
	b.waitFor("the product grid", `document.querySelectorAll(".product-card").length > 0`)
	b.screenshots("dashboard")

	names := b.fillCart("puma", 2)
	b.screenshots("search")
	orderID := b.buy(3)

	if got := eval[string](b, `document.querySelector("[data-field=status]").textContent`); got != "CREATED" {
		t.Errorf("order page without payments shows status %q, want CREATED", got)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`window.__notReloaded = "yes"`))
	b.waitFor("live updates", `!document.querySelector("[data-live-state]").hidden`)
	b.screenshots("order-created")

	sys.start(app.Payments)
	b.waitFor("PAYMENT_SUCCESS", `document.querySelector("[data-field=status]").textContent === "PAYMENT_SUCCESS"`)
	if got := eval[string](b, `window.__notReloaded || ""`); got != "yes" {
		t.Fatalf("the order page was reloaded (marker %q)", got)
	}
	b.waitFor("the payment id", `!document.querySelector("[data-field=payment]").textContent.includes("waiting")`)
	b.waitFor("the identity score", `/^[01]\.\d\d$/.test(document.querySelector("[data-field=score]").textContent)`)
	b.screenshots("order-paid")

	page := eval[string](b, `document.querySelector("[data-order-id]").innerText`)
	for _, n := range names {
		if !strings.Contains(page, n) {
			t.Errorf("order page lacks %q:\n%s", n, page)
		}
	}
	var paid int
	if err := sys.pool.QueryRow(context.Background(), `SELECT count(*) FROM payments.payments WHERE order_id = $1 AND status = 4`, orderID).Scan(&paid); err != nil || paid != 1 {
		t.Errorf("payments of order %s: %d, %v; want 1 successful", orderID, paid, err)
	}

	b.clickToLoad(`.site-nav a[href="/orders"]`)
	b.waitFor("the orders list", `location.pathname === "/orders" && document.querySelector('[data-order-id=`+js(orderID)+`] [data-field=status]')?.textContent === "PAYMENT_SUCCESS"`)
	b.screenshots("orders")
}

// TestBrowserPaymentFails orders more than the payment limit: the order
// page shows PAYMENT_FAIL.
func TestBrowserPaymentFails(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, 100) // $1.00: every order fails
	b := newBrowser(t, sys.url)

	// Markup typed into the search box is shown as text, and runs nothing.
	const attack = `<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>`
	b.open("/")
	b.do(chromedp.SendKeys(chromedp.CSS("#search-q"), attack))
	b.waitFor("the empty state", `document.querySelector(".empty-state h2")?.textContent.includes(`+js(attack)+`)`)
	if eval[bool](b, `window.__xss === 1 || !!document.querySelector("#results img[src=x], #results script")`) {
		t.Error("the search text was run as markup")
	}
	b.screenshots("no-results")

	b.fillCart("shirt", 1)
	b.buy(1)
	b.waitFor("PAYMENT_FAIL", `document.querySelector("[data-field=status]").textContent === "PAYMENT_FAIL"`)
	if got := eval[string](b, `document.querySelector("[data-field=status]").className`); !strings.Contains(got, "badge-fail") {
		t.Errorf("PAYMENT_FAIL badge has class %q, want badge-fail", got)
	}
	b.waitFor("the identity score", `/^[01]\.\d\d$/.test(document.querySelector("[data-field=score]").textContent)`)
	b.screenshots("order-failed")
}

// TestBrowserOps signs in to /ops, sees the three streams settle with lag
// 0, replays a dead letter that payments then processes, and looks up the
// journey of the order it bought.
func TestBrowserOps(t *testing.T) {
	t.Parallel()
	sys := startSystem(t, 1_000_000)
	b := newBrowser(t, sys.url)

	b.fillCart("bag", 1)
	bought := b.buy(1)
	b.waitFor("PAYMENT_SUCCESS", `document.querySelector("[data-field=status]").textContent === "PAYMENT_SUCCESS"`)

	b.open("/ops")
	b.waitFor("the sign-in form", `document.querySelector("#ops-token")`)
	b.screenshots("ops-login")
	b.do(chromedp.SendKeys(chromedp.CSS("#ops-token"), operatorToken))
	b.clickToLoad(`.login-box button[type="submit"]`)
	b.waitFor("the operations page", `location.pathname === "/ops" && document.querySelectorAll("[data-stream]").length === 4`)

	for _, name := range []string{events.OrdersStream, events.PaymentsStream, events.TransactionStream, events.ProductsStream} {
		b.waitFor(name+" with groups", `document.querySelectorAll('[data-stream=`+js(name)+`] [data-group]').length > 0`)
	}
	// The page refreshes itself; every group catches up.
	b.waitFor("every group at lag 0", `[...document.querySelectorAll("[data-group]")].every(r =>
		r.querySelector("[data-field=lag]").textContent.trim() === "0" && r.querySelector("[data-field=pending]").textContent.trim() === "0")`)
	groups := eval[[]string](b, `[...document.querySelectorAll("[data-stream]")].flatMap(s => [...s.querySelectorAll("[data-group]")].map(g => s.dataset.stream + "/" + g.dataset.group))`)
	for _, want := range []string{"ORDERS_STREAM/payments", "ORDERS_STREAM/orderhistory", "ORDERS_STREAM/identity", "PAYMENTS_STREAM/orders", "PAYMENTS_STREAM/orderhistory", "TRANSACTION_STREAM/identity", "PRODUCTS_STREAM/orders"} {
		if !strings.Contains(strings.Join(groups, " "), want) {
			t.Errorf("ops page lists groups %v, lacking %s", groups, want)
		}
	}
	b.do(chromedp.Evaluate[chromedp.Void](`window.__notReloaded = "yes"`))
	b.screenshots("ops")

	orderID, dlqID := sys.deadLetter(t)
	b.waitFor("the dead letter, shown by the refresh", `document.querySelector('[data-dlq-id=`+js(dlqID)+`]')`)
	if got := eval[string](b, `window.__notReloaded || ""`); got != "yes" {
		t.Errorf("the ops page reloaded instead of refreshing (marker %q)", got)
	}
	b.screenshots("ops-dead-letter")

	b.clickToLoad(`[data-dlq-id=` + js(dlqID) + `] button[type="submit"]`)
	b.waitFor("the replay notice", `document.querySelector(".notice-ok")?.textContent.includes(`+js(dlqID)+`)`)
	// payments handles the replayed entry: it answers it with the
	// payment the order already has, a second PaymentProcessed.
	testenv.WaitFor(t, waitTimeout, "payments to answer the replayed order", func() bool {
		return sys.announcedPayments(t, orderID) == 2
	})
	b.waitFor("the payments group to settle after the replay", `[...document.querySelectorAll('[data-stream="ORDERS_STREAM"] [data-group]')].every(r =>
		r.querySelector("[data-field=lag]").textContent.trim() === "0" && r.querySelector("[data-field=pending]").textContent.trim() === "0")`)
	if n := sys.rdb.XLen(context.Background(), stream.DeadLetterStream(events.OrdersStream)).Val(); n != 0 {
		t.Errorf("ORDERS_STREAM:dlq has %d entries after the replay was handled, want 0", n)
	}
	var paid int
	if err := sys.pool.QueryRow(context.Background(), `SELECT count(*) FROM payments.payments WHERE order_id = $1`, orderID).Scan(&paid); err != nil || paid != 1 {
		t.Errorf("the replayed order has %d payments (%v), want 1", paid, err)
	}
	b.screenshots("ops-replayed")

	// The bought order's journey, from the form on /ops: five steps, done.
	b.do(chromedp.SendKeys(chromedp.CSS("#journey-order"), bought))
	b.clickToLoad(`.journey-form button[type="submit"]`)
	b.waitFor("the order's journey", `location.pathname === "/ops/journey" && document.querySelectorAll('[data-step][data-state="done"]').length === 5`)
	b.screenshots("ops-journey")
}

// announcedPayments counts the PaymentProcessed entries of order orderID
// on PAYMENTS_STREAM.
func (s *system) announcedPayments(t *testing.T, orderID string) int {
	t.Helper()
	entries, err := s.rdb.XRange(context.Background(), events.PaymentsStream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Values["orderId"] == orderID {
			n++
		}
	}
	return n
}

// deadLetter puts the newest OrderPlaced of ORDERS_STREAM, under a new
// event id, on its dead-letter stream, as if payments had given up on a
// delivery of it during an outage, and returns the order id and the dead
// letter's id. The order is a real one: the consumers dead-letter an
// OrderPlaced of an order that the orders service does not have.
func (s *system) deadLetter(t *testing.T) (orderID, dlqID string) {
	t.Helper()
	ctx := context.Background()
	newest, err := s.rdb.XRevRangeN(ctx, events.OrdersStream, "+", "-", 1).Result()
	if err != nil || len(newest) == 0 {
		t.Fatalf("no OrderPlaced to dead-letter: %v", err)
	}
	orderID, _ = newest[0].Values["orderId"].(string)
	var vals []any
	for k, v := range newest[0].Values {
		if k == stream.FieldEventID {
			v = stream.NewID()
		}
		vals = append(vals, k, v)
	}
	vals = append(vals,
		"dlq.error", "payments: postgres unavailable: connection refused",
		"dlq.attempts", "5",
		"dlq.originStream", events.OrdersStream,
		"dlq.originId", newest[0].ID,
		"dlq.group", "payments",
		"dlq.consumer", "payments-1",
		"dlq.time", time.Now().UTC().Format(time.RFC3339Nano),
	)
	id, err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream.DeadLetterStream(events.OrdersStream), Values: vals}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return orderID, id
}
