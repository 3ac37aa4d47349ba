package app_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/app"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/redisacl"
	"streamcart/internal/platform/servers"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/stream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// secret is the identity secret of test systems, shared with child
// processes.
var secret = []byte("test-secret-test-secret-test-secret!")

// shop is a running system on its own Redis and database.
type shop struct {
	t      *testing.T
	cfg    app.Config
	sys    *app.System
	redis  *servers.Redis        // nil on a cluster
	rc     *servers.RedisCluster // the shop's Redis Cluster, if on one
	pool   *pgxpool.Pool
	signer *auth.Signer
	client *http.Client // checks its traffic to the gateway against the API document
	api    *apiChecker
}

// tuning makes failures heal within seconds instead of minutes.
var tuning = app.Tuning{
	Consumer: stream.Config{
		Block: 200 * time.Millisecond, MinIdle: time.Second, ClaimInterval: 200 * time.Millisecond,
		HandlerTimeout: 300 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
	},
	Outbox:            outbox.Config{Poll: 50 * time.Millisecond},
	StuckAfter:        2 * time.Second,
	ReconcileInterval: 300 * time.Millisecond,
}

type shopOptions struct {
	databaseURL string   // default: a fresh database on the shared server
	services    []string // default: all
	trustProxy  bool     // the gateway takes the client address from X-Forwarded-For
	// streamMaxAge is app.Config.StreamMaxAge.
	streamMaxAge time.Duration
	// prepare, if set, runs on the shop's Redis before the services start.
	prepare func(rdb redis.UniversalClient)
	// redisUsers starts the shop's Redis with a password on the default
	// user and the ACL users of app.RedisUsers, and each service connects
	// as its own user; the default user is the test's, an admin's.
	redisUsers bool
	// cluster runs the shop on a Redis Cluster of its own (three
	// primaries, a replica each) with the users as redisUsers has them.
	cluster bool
	// metrics serves every service's metrics on a loopback address of
	// its own too (app.Config.MetricsAddr), the gateway's included.
	metrics bool
	// noMetrics turns the metrics off (app.Config.NoMetrics).
	noMetrics bool
	// tracing is app.Config.Tracing.
	tracing *tracing.Tracing
	// operatorToken opens the operations page (app.Config.OperatorToken).
	operatorToken string
	// partitions is how many partitions each stream has
	// (app.RedisNames.StreamPartitions); 0 means 1.
	partitions int
}

func startShop(t *testing.T, opts shopOptions) *shop {
	t.Helper()
	var (
		r       *servers.Redis
		rc      *servers.RedisCluster
		url     string
		userURL func(name string) (string, error)
	)
	switch {
	case opts.cluster:
		rc = ownClusterWithUsers(t, opts.partitions)
		url, userURL = rc.URL(), rc.UserURL
		opts.redisUsers = true
	case opts.redisUsers:
		r = ownRedisWithUsers(t, opts.partitions)
		url, userURL = r.URL(), r.UserURL
	default:
		r = testenv.OwnRedis(t, "")
		url = r.URL()
	}
	if opts.databaseURL == "" {
		opts.databaseURL = testenv.Postgres(t)
	}
	cfg := app.Config{
		RedisURL:         url,
		DatabaseURL:      opts.databaseURL,
		Secret:           secret,
		Seed:             true,
		PaymentFailAbove: 50000, // 500.00
		ShutdownTimeout:  3 * time.Second,
		Tuning:           tuning,
		Names:            app.RedisNames{StreamPartitions: opts.partitions},
		Log:              testenv.Logger(t),
	}
	if opts.redisUsers {
		cfg.RedisURLs = map[string]string{}
		for _, name := range app.RedisUserNames {
			u, err := userURL(name)
			if err != nil {
				t.Fatal(err)
			}
			cfg.RedisURLs[name] = u
		}
	}
	if opts.metrics {
		cfg.MetricsAddr = "127.0.0.1:0"
	}
	cfg.NoMetrics = opts.noMetrics
	cfg.Gateway.TrustProxy = opts.trustProxy
	cfg.OperatorToken = opts.operatorToken
	cfg.StreamMaxAge = opts.streamMaxAge
	cfg.Tracing = opts.tracing
	if opts.prepare != nil {
		opts.prepare(testenv.RedisAt(t, url))
	}
	s := &shop{t: t, cfg: cfg, redis: r, rc: rc, client: &http.Client{Timeout: 10 * time.Second}}
	s.sys = s.start(cfg, opts.services...)
	// Services started later call these ones: payments, the order
	// history and identity ask orders whether orders exist.
	s.cfg.URLs = maps.Clone(s.sys.URLs)
	s.api = checkAPI(t, s.sys.URLs[app.Gateway])
	s.client.Transport = s.api
	s.signer = s.sys.Signer
	s.pool = testenv.PoolAt(t, cfg.DatabaseURL)
	return s
}

// start starts services of the shop's configuration and stops them at the
// end of the test, when the test's context is cancelled.
func (s *shop) start(cfg app.Config, names ...string) *app.System {
	s.t.Helper()
	sys, err := app.Start(s.t.Context(), cfg, names...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		if err := sys.Wait(); err != nil {
			s.t.Errorf("system stopped with: %v", err)
		}
	})
	return sys
}

// call sends a request with body (sent as it is when []byte, as JSON
// otherwise) as the shopper userID ("" for no identity; headers may set
// another) and decodes a JSON answer into out.
func (s *shop) call(method, url, userID string, body any, out any, headers ...string) int {
	s.t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if userID != "" {
		h.Set(auth.Header, s.signer.Sign(auth.Identity{Role: auth.RoleShopper, UserID: userID, SessionID: "s-" + userID, IP: "127.0.0.1", UserAgent: "test"}))
	}
	return request(s.t, s.client, method, url, body, out, h, headers...)
}

// request sends method url with body, the header h and then headers
// (name, value pairs) with client, decodes a JSON answer into out (when
// out is not nil and the answer has a body) and returns the status.
func request(t *testing.T, client *http.Client, method, url string, body, out any, h http.Header, headers ...string) int {
	t.Helper()
	maps.Copy(h, testenv.Header(headers...))
	resp, data := testenv.Do(t, client, testenv.Request{Method: method, URL: url, Body: body, Header: h})
	if out != nil && len(data) > 0 {
		testenv.DecodeJSON(t, data, out)
	}
	return resp.StatusCode
}

type product struct {
	ID         string `json:"id"`
	PriceCents int64  `json:"priceCents"`
}

// catalog returns the first n products of the catalog, asked for as the
// gateway does for a reader without a session.
func (s *shop) catalog(n int) []product {
	s.t.Helper()
	var page struct{ Products []product }
	if code := s.call("GET", fmt.Sprintf("%s/products?limit=%d", s.sys.URLs[app.Products], n), "", nil, &page,
		s.credential(auth.Identity{Role: auth.RoleReader})...); code != 200 {
		s.t.Fatalf("catalog: status %d", code)
	}
	return page.Products
}

type item struct {
	ProductID  string `json:"productId"`
	Qty        int    `json:"qty"`
	PriceCents *int64 `json:"priceCents,omitempty"`
}

type order struct {
	OrderID     string `json:"orderId"`
	UserID      string `json:"userId"`
	Status      int    `json:"status"`
	AmountCents int64  `json:"amountCents"`
	PaymentID   string `json:"paymentId"`
	Items       []struct {
		ProductID  string `json:"productId"`
		Qty        int    `json:"qty"`
		PriceCents int64  `json:"priceCents"`
	} `json:"items"`
}

type apiError struct {
	Error struct{ Code, Message string }
}

// wantRefused calls method url as s.call does and checks that the answer
// is status with the error code code; what names the call in a failure.
func (s *shop) wantRefused(what, method, url, userID string, body any, status int, code string, headers ...string) {
	s.t.Helper()
	var e apiError
	if got := s.call(method, url, userID, body, &e, headers...); got != status || e.Error.Code != code {
		s.t.Errorf("%s: %d %q, want %d %s", what, got, e.Error.Code, status, code)
	}
}

// placeOrder creates an order as userID and fails the test unless it is
// accepted.
func (s *shop) placeOrder(userID string, items ...item) order {
	s.t.Helper()
	var o order
	if code := s.call("POST", s.ordersURL()+"/orders", userID, map[string]any{"items": items}, &o); code != 201 {
		s.t.Fatalf("create order: status %d", code)
	}
	return o
}

// placeOrders places n orders one after another, each of one to three of
// a product of catalog (the ith order of the (i mod len(catalog))th), by
// users users in turn, failing the test unless each is accepted.
func (s *shop) placeOrders(n, users int, catalog []product) {
	s.t.Helper()
	for i := range n {
		s.placeOrder(fmt.Sprintf("user-%d", i%users), item{ProductID: catalog[i%len(catalog)].ID, Qty: 1 + i%3})
	}
}

func (s *shop) ordersURL() string {
	if u := s.sys.URLs[app.Orders]; u != "" {
		return u
	}
	return s.cfg.URLs[app.Orders]
}

// notFinal counts orders without a payment outcome.
func (s *shop) notFinal() int {
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM orders.orders WHERE status NOT IN (4, -4)`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// checkSettled asserts the pipeline's end state: every order final, with
// exactly one payment whose id, amount and outcome match the order.
func (s *shop) checkSettled(wantOrders int) {
	s.t.Helper()
	ctx := context.Background()
	var orders, payments, mismatched int
	err := s.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM orders.orders),
		       (SELECT count(*) FROM payments.payments),
		       (SELECT count(*) FROM orders.orders o LEFT JOIN payments.payments p USING (order_id)
		        WHERE p.payment_id IS NULL OR o.payment_id IS DISTINCT FROM p.payment_id
		           OR o.amount_cents <> p.amount_cents OR o.status <> p.status
		           OR p.status <> CASE WHEN p.amount_cents > 50000 THEN -4 ELSE 4 END)`,
	).Scan(&orders, &payments, &mismatched)
	if err != nil {
		s.t.Fatal(err)
	}
	if orders != wantOrders || payments != wantOrders || mismatched != 0 {
		s.t.Errorf("orders %d, payments %d, mismatched %d; want %d, %d, 0", orders, payments, mismatched, wantOrders, wantOrders)
	}
}

// redisClient returns a client of the shop's Redis.
func (s *shop) redisClient() redis.UniversalClient {
	s.t.Helper()
	return testenv.RedisAt(s.t, s.cfg.RedisURL)
}

// ownRedisWithUsers starts a private redis-server for t with the Redis
// users of every service, for streams of the given partitions (0 means
// 1), and an admin password on the default user.
func ownRedisWithUsers(t *testing.T, partitions int) *servers.Redis {
	t.Helper()
	return stopAtEnd(t, func(ctx context.Context) (*servers.Redis, error) {
		return servers.StartRedis(ctx, servers.RedisOptions{Dir: testenv.TempDir(t), AdminPassword: "admin-password", Users: testRedisUsers(t, partitions)})
	})
}

// ownClusterWithUsers is ownRedisWithUsers for a Redis Cluster: every node
// has the users.
func ownClusterWithUsers(t *testing.T, partitions int) *servers.RedisCluster {
	t.Helper()
	return stopAtEnd(t, func(ctx context.Context) (*servers.RedisCluster, error) {
		return servers.StartRedisCluster(ctx, servers.RedisClusterOptions{Dir: testenv.TempDir(t), AdminPassword: "admin-password", Users: testRedisUsers(t, partitions)})
	})
}

// testRedisUsers returns the Redis users of every service, for streams of
// partitions partitions.
func testRedisUsers(t *testing.T, partitions int) []redisacl.User {
	t.Helper()
	passwords := map[string]string{}
	for _, name := range app.RedisUserNames {
		passwords[name] = "password-of-" + name
	}
	names := app.DefaultRedisNames()
	names.StreamPartitions = partitions
	users, err := app.RedisUsers(names, passwords)
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// stopAtEnd starts a server and stops it when t ends.
func stopAtEnd[S interface{ Stop(context.Context) error }](t *testing.T, start func(context.Context) (S, error)) S {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	srv, err := start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// restartRedisEmpty stops the shop's Redis, deletes its data (see wipe)
// and starts it again, empty.
func (s *shop) restartRedisEmpty() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), time.Minute)
	defer cancel()
	if err := s.redis.Stop(ctx); err != nil {
		s.t.Fatal(err)
	}
	wipe(s.t, s.redis)
	if err := s.redis.Restart(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// wantNothingRefused checks that admin's Redis refused the services no
// command: its ACL log is empty.
func wantNothingRefused(t *testing.T, admin redis.UniversalClient) {
	t.Helper()
	denied, err := admin.Do(t.Context(), "ACL", "LOG").Slice()
	if err != nil {
		t.Fatal(err)
	}
	if len(denied) > 0 {
		t.Errorf("Redis refused %d commands of the services:\n%v", len(denied), denied)
	}
}

// wipe deletes a stopped Redis's data, so that it restarts empty. Its log
// and its ACL file (users.acl), which is configuration, stay.
func wipe(t *testing.T, r *servers.Redis) {
	t.Helper()
	entries, err := os.ReadDir(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(r.LogPath()) && e.Name() != "users.acl" {
			if err := os.RemoveAll(filepath.Join(r.Dir(), e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}
