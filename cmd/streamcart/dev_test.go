package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/app"
	"streamcart/internal/platform/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// command is streamcart run in this process, in the background, with its
// output kept.
type command struct {
	name           string
	stdout, stderr testenv.Buffer
	bg             *testenv.Background
}

// start runs streamcart with args until stop is called or the test ends;
// name names it in failures.
func start(t *testing.T, name string, args ...string) *command {
	t.Helper()
	c := &command{name: name}
	c.bg = testenv.Start(t, name, 60*time.Second, func(ctx context.Context) error {
		return run(ctx, args, &c.stdout, &c.stderr)
	})
	return c
}

// waitFor waits for cond, failing the test at once if the command exits.
// Starting takes long on a busy machine: it waits up to 90s.
func (c *command) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 90*time.Second, what, func() bool {
		if exited, err := c.bg.Exited(); exited {
			t.Fatalf("%s exited early: %v\nstdout:\n%s\nstderr:\n%s", c.name, err, c.stdout.String(), c.stderr.String())
		}
		return cond()
	})
}

// stop cancels the command's context, as Ctrl-C does, and checks that it
// stops cleanly within 60s.
func (c *command) stop(t *testing.T) {
	t.Helper()
	if err := c.bg.Stop(); err != nil {
		t.Errorf("%s stopped with: %v\nstderr:\n%s", c.name, err, c.stderr.String())
	}
}

// databaseWithPassword returns the URL of a new database with password in
// it. Trust authentication ignores the password: it only shows whether the
// URL is logged.
func databaseWithPassword(t *testing.T, password string) *url.URL {
	t.Helper()
	db, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	db.User = url.UserPassword(db.User.Username(), password)
	return db
}

var openLine = regexp.MustCompile(`Open (http://\S+)`)

// startDev runs "streamcart dev" in this process on data and returns the
// gateway's URL and a function that stops it (Ctrl-C) and checks that it
// stopped cleanly.
func startDev(t *testing.T, data string, flags ...string) (string, func()) {
	t.Helper()
	url, dev := startDevCommand(t, data, flags...)
	return url, func() { dev.stop(t) }
}

// startDevCommand runs "streamcart dev" like startDev, with more flags,
// and returns the gateway's URL and the command.
func startDevCommand(t *testing.T, data string, flags ...string) (string, *command) {
	t.Helper()
	dev := start(t, "dev", append([]string{"dev", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--log-level", "warn"}, flags...)...)
	var url string
	dev.waitFor(t, "dev to print its URL", func() bool {
		if m := openLine.FindStringSubmatch(dev.stdout.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	return url, dev
}

// call sends a request with body (nil: none) to url, as the session of
// token when it is not empty, decodes the answer into out (nil: not at
// all) and returns its status.
func call(t *testing.T, method, url, token string, body, out any) int {
	t.Helper()
	rq := testenv.Request{Method: method, URL: url, Body: body}
	if token != "" {
		rq.Header = http.Header{"Authorization": {"Bearer " + token}}
	}
	resp, b := testenv.Do(t, nil, rq)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

// placePaidOrder starts a session at the gateway at url, orders a product
// and waits until the order is paid. It returns the session's token and
// the order's id.
func placePaidOrder(t *testing.T, url string) (token, orderID string) {
	t.Helper()
	var sess struct{ Auth string }
	if code := call(t, "GET", url+"/api/v1/session", "", nil, &sess); code != 200 || sess.Auth == "" {
		t.Fatalf("session: %d", code)
	}
	var page struct {
		Products []struct{ ID string }
	}
	if code := call(t, "GET", url+"/api/v1/products?limit=1", sess.Auth, nil, &page); code != 200 || len(page.Products) != 1 {
		t.Fatalf("products: %d", code)
	}
	var o struct {
		OrderID string `json:"orderId"`
		Status  int    `json:"status"`
	}
	if code := call(t, "POST", url+"/api/v1/orders", sess.Auth, map[string]any{"items": []map[string]any{{"productId": page.Products[0].ID, "qty": 1}}}, &o); code != 201 {
		t.Fatalf("order: %d", code)
	}
	testenv.WaitFor(t, 30*time.Second, "the order paid", func() bool {
		call(t, "GET", url+"/api/v1/orders/"+o.OrderID, sess.Auth, nil, &o)
		return o.Status == 4
	})
	return sess.Auth, o.OrderID
}

func TestDevServesAnOrderAndKeepsItsData(t *testing.T) {
	t.Parallel()
	data := testenv.TempDir(t) + "/data"
	url, dev := startDevCommand(t, data)
	stop := func() { dev.stop(t) }

	token, orderID := placePaidOrder(t, url)
	checkManagedRedisUsers(t, data)
	checkDevMetrics(t, dev.stdout.String())
	stop()

	// The identity secret, which signs the session tokens, is kept with
	// the data for the next start.
	if fi, err := os.Stat(filepath.Join(data, "identity-secret")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("identity-secret: %v; want a file readable by its owner only", err)
	}

	// The second start reuses the data: the session and the order are there.
	url, stop = startDev(t, data)
	defer stop()
	var again struct {
		OrderID string `json:"orderId"`
		Status  int    `json:"status"`
	}
	if code := call(t, "GET", url+"/api/v1/orders/"+orderID, token, nil, &again); code != 200 || again.Status != 4 {
		t.Errorf("after a restart: %d %+v, want the paid order", code, again)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("gateway URL %s, want loopback", url)
	}
}

func TestDevRunsOnAManagedRedisCluster(t *testing.T) {
	t.Parallel()
	data := testenv.TempDir(t) + "/data"
	url, dev := startDevCommand(t, data, "--redis-cluster")
	if !strings.Contains(dev.stdout.String(), "redis+cluster://default:") {
		t.Errorf("dev does not print the cluster's URL:\n%s", dev.stdout.String())
	}
	token, orderID := placePaidOrder(t, url)
	dev.stop(t)
	for i := range 6 {
		if _, err := os.Stat(filepath.Join(data, "redis-cluster", fmt.Sprintf("node-%d", i), "nodes.conf")); err != nil {
			t.Errorf("node %d of the cluster: %v", i, err)
		}
	}

	// The second start finds the same cluster, and the session in it.
	url, stop := startDev(t, data, "--redis-cluster")
	defer stop()
	var again struct {
		Status int `json:"status"`
	}
	if code := call(t, "GET", url+"/api/v1/orders/"+orderID, token, nil, &again); code != 200 || again.Status != 4 {
		t.Errorf("after a restart: %d %+v, want the paid order", code, again)
	}
}

// metricsLine is a line of dev's output that says where a service's
// metrics are.
var metricsLine = regexp.MustCompile(`(?m)^\s+(\w+):\s+(http://127\.0\.0\.1:\d+/metrics/(\w+))$`)

// checkDevMetrics checks that dev's output says where the metrics of every
// service are, on one address apart from the gateway's, and that each
// answers with its service's metrics in the Prometheus text format.
func checkDevMetrics(t *testing.T, out string) {
	t.Helper()
	found := map[string]string{}
	for _, m := range metricsLine.FindAllStringSubmatch(out, -1) {
		if m[1] == m[3] {
			found[m[1]] = m[2]
		}
	}
	for _, name := range app.Services {
		u := found[name]
		if u == "" {
			t.Errorf("dev does not print where the metrics of %s are:\n%s", name, out)
			continue
		}
		resp, body := testenv.Do(t, nil, testenv.Request{Method: "GET", URL: u})
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
			!strings.Contains(string(body), "\ngo_goroutines ") {
			t.Errorf("GET %s: %d %s, want the Prometheus text format:\n%.300s", u, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if name == app.Orders && !strings.Contains(string(body), `streamcart_orders_total{status="PAYMENT_SUCCESS"} 1`) {
			t.Errorf("the orders' metrics do not count the order paid:\n%s", body)
		}
	}
}

// checkManagedRedisUsers checks that the managed Redis of dev on data
// wants the admin password of data/redis/admin-password, and that every
// service and the operations page are connected as their own Redis user.
func checkManagedRedisUsers(t *testing.T, data string) {
	t.Helper()
	ctx := t.Context()
	admin, err := os.ReadFile(filepath.Join(data, "redis", "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(data, "redis", "admin-password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-password: %v, %v; want a file readable by its owner only", fi.Mode(), err)
	}
	logged, err := os.ReadFile(filepath.Join(data, "redis", "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`mode=standalone, port=(\d+)`).FindSubmatch(logged)
	if m == nil {
		t.Fatalf("no port in the managed Redis's log:\n%s", logged)
	}
	port := string(m[1])
	anonymous := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port})
	defer anonymous.Close()
	if err := anonymous.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("PING without credentials: %v, want NOAUTH", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, Password: strings.TrimSpace(string(admin))})
	defer rdb.Close()
	clients, err := rdb.ClientList(ctx).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST as the admin: %v", err)
	}
	for _, name := range app.RedisUserNames {
		if name == app.Scaler {
			continue // dev runs no autoscaler
		}
		if !strings.Contains(clients, " user="+name+" ") {
			t.Errorf("no connection of Redis user %s:\n%s", name, clients)
		}
	}
}

// TestRedisACLPrintsTheUsersThatDevCreates runs "streamcart redis-acl"
// and applies its output to a Redis: the users it prints are those of
// app.RedisUsers, and payments may append to its stream and not to the
// orders'.
func TestRedisACLPrintsTheUsersThatDevCreates(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	args := []string{"redis-acl", "--redis-url", "redis://redis.internal:6379/0"}
	passwords := map[string]string{}
	for _, name := range app.RedisUserNames {
		passwords[name] = "pw-" + name
		args = append(args, "--"+name+"-password", passwords[name])
	}
	var stdout, stderr strings.Builder
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("redis-acl: %v\n%s", err, stderr.String())
	}
	users, err := app.RedisUsers(app.DefaultRedisNames(), passwords)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, u := range users {
		want.WriteString(u.Command() + "\n")
	}
	if stdout.String() != want.String() {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want.String())
	}
	if strings.Contains(stdout.String(), "pw-") {
		t.Errorf("the commands show a password:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "redis://payments:pw-payments@redis.internal:6379/0") {
		t.Errorf("stderr does not give the payments user's URL:\n%s", stderr.String())
	}

	r := testenv.OwnRedis(t, "")
	admin := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer admin.Close()
	for line := range strings.Lines(stdout.String()) {
		var cmd []any
		for _, f := range regexp.MustCompile(`"[^"]*"|\S+`).FindAllString(line, -1) {
			cmd = append(cmd, strings.Trim(f, `"`))
		}
		if err := admin.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%s: %v", strings.TrimSpace(line), err)
		}
	}
	payments := redis.NewClient(&redis.Options{Addr: r.Addr(), Username: app.Payments, Password: passwords[app.Payments]})
	defer payments.Close()
	if err := payments.XAdd(ctx, &redis.XAddArgs{Stream: "PAYMENTS_STREAM", Values: []any{"a", "b"}}).Err(); err != nil {
		t.Errorf("payments: XADD PAYMENTS_STREAM: %v", err)
	}
	if err := payments.XAdd(ctx, &redis.XAddArgs{Stream: "ORDERS_STREAM", Values: []any{"a", "b"}}).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("payments: XADD ORDERS_STREAM: %v, want NOPERM", err)
	}
}

func TestDevLogsItsConfigurationWithoutSecretsAndEveryLineOneService(t *testing.T) {
	t.Parallel()
	const (
		operatorToken  = "operator-token-s3cret"
		dbPassword     = "database-s3cret" // trust authentication ignores it
		identitySecret = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
	)
	db := databaseWithPassword(t, dbPassword)
	dev := start(t, "dev", "dev", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--log-format", "json",
		"--redis-url", testenv.RedisURL(t), "--database-url", db.String(), "--operator-token", operatorToken,
		"--identity-secret", identitySecret)
	// Payments, orders, the order history and identity each consume.
	dev.waitFor(t, "dev to start four consumers", func() bool {
		return openLine.MatchString(dev.stdout.String()) && strings.Count(dev.stderr.String(), `"msg":"consumer started"`) >= 4
	})
	dev.stop(t)

	logged := dev.stderr.String()
	for _, secret := range []string{operatorToken, dbPassword, identitySecret} {
		if strings.Contains(logged, secret) {
			t.Errorf("the log shows the secret %q:\n%s", secret, logged)
		}
	}
	if strings.Contains(dev.stdout.String(), dbPassword) || strings.Contains(dev.stdout.String(), identitySecret) {
		t.Errorf("dev's output shows the database password:\n%s", dev.stdout.String())
	}
	var first struct {
		Msg, Version string
		Config       map[string]string
	}
	if err := json.Unmarshal([]byte(firstLine(logged)), &first); err != nil {
		t.Fatalf("first log line: %v\n%s", err, logged)
	}
	if first.Msg != "starting" || first.Version == "" || first.Config["operator-token"] != "xxxxx" || first.Config["addr"] != "127.0.0.1:0" {
		t.Errorf("first log line = %+v, want starting with the version and the masked configuration", first)
	}
	for line := range strings.Lines(logged) {
		var rec struct{ Msg, Service, Stream string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %v: %s", err, line)
			continue
		}
		if n := strings.Count(line, `"service":`); n != 1 {
			t.Errorf("log line has %d service attributes, want 1: %s", n, line)
		}
		if rec.Msg == "consumer started" && !slices.Contains(app.Services, rec.Service) {
			t.Errorf("consumer of %s logs with service %q, want the service that owns it", rec.Stream, rec.Service)
		}
	}
}
