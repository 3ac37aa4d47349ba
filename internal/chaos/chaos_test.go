//go:build chaos && linux

package chaos_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/app"
	"streamcart/internal/events"
	"streamcart/internal/loadgen"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/servers"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// Load and bounds of every scenario.
const (
	rate       = 15.0             // orders per second
	loadFor    = 25 * time.Second // how long shoppers arrive
	faultAfter = 8 * time.Second  // when the fault is injected
	bound      = 60 * time.Second // each wait of a scenario
)

// figures are what a scenario measured; a zero duration was not measured.
type figures struct {
	takeover  time.Duration // a dead consumer's pending entries taken over
	held      int64         // how many it held when it died
	recovered time.Time     // when the fault was repaired
	first2xx  time.Duration // from recovered to the first order accepted
	drain     time.Duration // from the end of the load to idle
	orders    int
	errors500 int
	errors503 int
	problems  []string
}

type scenario struct {
	name  string
	fault func(ctx context.Context, s *system, f *figures) error
}

// TestFaultSuite runs every scenario against one system, in order, and
// prints a line for each. STREAMCART_BIN is the streamcart binary.
func TestFaultSuite(t *testing.T) {
	bin := os.Getenv("STREAMCART_BIN")
	if bin == "" {
		t.Skip("STREAMCART_BIN is not set; run make chaos")
	}
	s := startSystem(t, bin)
	scenarios := []scenario{
		{"SIGKILL one of two payments", killPayments(syscall.SIGKILL)},
		{"Redis restarted empty", restartRedis(true)},
		{"PostgreSQL stop -m immediate, 5 s", stopPostgres},
		{"SIGKILL Redis, restart from files", restartRedis(false)},
		{"SIGTERM one of two payments", killPayments(syscall.SIGTERM)},
		{"1,000 duplicate OrderPlaced", duplicates},
		{"poison entries", poison},
	}
	if only := os.Getenv("CHAOS_RUN"); only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(sc scenario) bool { return !strings.Contains(sc.name, only) })
	}
	fmt.Printf("\n%-36s %12s %9s %9s %7s %5s %5s  %s\n", "scenario", "takeover/held", "first2xx", "drain", "orders", "500s", "503s", "result")
	for _, sc := range scenarios {
		f := s.run(t, sc)
		result := "PASS"
		if len(f.problems) > 0 {
			result = "FAIL: " + strings.Join(f.problems, "; ")
			t.Errorf("%s: %s", sc.name, result)
		}
		takeover := show(f.takeover)
		if f.held > 0 {
			takeover = fmt.Sprintf("%s/%d", takeover, f.held)
		}
		fmt.Printf("%-36s %12s %9s %9s %7d %5d %5d  %s\n", sc.name, takeover, show(f.first2xx), show(f.drain), f.orders, f.errors500, f.errors503, result)
	}
}

func show(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// system is streamcart as separate processes on its own servers.
type system struct {
	t        *testing.T
	bin, dir string
	redis    *servers.Redis
	pg       *servers.Postgres
	admin    redis.UniversalClient
	pool     *pgxpool.Pool
	secret   []byte
	signer   *auth.Signer
	key      *events.OrderKey
	dbURL    string
	ports    map[string]int
	procs    map[string]*proc
	client   *http.Client
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startSystem(t *testing.T, bin string) *system {
	ctx := t.Context()
	dir, err := os.MkdirTemp("", "streamcart-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the processes' logs are in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	s := &system{t: t, bin: bin, dir: dir, ports: map[string]int{}, procs: map[string]*proc{}, client: &http.Client{Timeout: 10 * time.Second}}
	s.secret = make([]byte, 32)
	for i := range s.secret {
		s.secret[i] = byte(i*7 + 3)
	}
	if s.signer, err = auth.NewSigner(s.secret, time.Minute); err != nil {
		t.Fatal(err)
	}
	if s.key, err = events.NewOrderKey(s.secret); err != nil {
		t.Fatal(err)
	}
	passwords := map[string]string{}
	for _, name := range app.RedisUserNames {
		passwords[name] = "pw-" + name + "-chaos"
	}
	users, err := app.RedisUsers(app.DefaultRedisNames(), passwords)
	if err != nil {
		t.Fatal(err)
	}
	if s.redis, err = servers.StartRedis(ctx, servers.RedisOptions{Dir: filepath.Join(s.dir, "redis"), AppendFsync: "everysec", AdminPassword: "admin-chaos", Users: users}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.redis.Stop(context.Background()) })
	if s.pg, err = servers.StartPostgres(ctx, servers.PostgresOptions{Dir: filepath.Join(s.dir, "postgres"), FallbackRoot: "/var/lib/streamcart"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.pg.Stop(context.Background()) })
	if err := s.pg.CreateDatabase(ctx, "streamcart"); err != nil {
		t.Fatal(err)
	}
	s.dbURL = s.pg.URL("streamcart")
	s.admin = testenv.RedisAt(t, s.redis.URL())
	for _, name := range []string{app.Products, "payments-1", "payments-2", app.Orders, app.History, app.Identity, app.Gateway} {
		s.ports[name] = freePort(t)
	}
	t.Cleanup(s.stopAll)
	for _, name := range []string{app.Products, "payments-1", "payments-2", app.Orders, app.History, app.Identity, app.Gateway} {
		s.start(name)
	}
	s.pool = testenv.PoolAt(t, s.dbURL)
	return s
}

func (s *system) url(name string) string {
	return "http://127.0.0.1:" + strconv.Itoa(s.ports[name])
}

// start starts process name (a service, or payments-N) and waits until it
// answers /healthz.
func (s *system) start(name string) {
	s.t.Helper()
	svc := name
	if strings.HasPrefix(name, app.Payments) {
		svc = app.Payments
	}
	ruser := svc
	rurl, err := s.redis.UserURL(ruser)
	if err != nil {
		s.t.Fatal(err)
	}
	args := []string{"serve", svc, "--addr", "127.0.0.1:" + strconv.Itoa(s.ports[name]),
		"--redis-url", rurl, "--database-url", s.dbURL, "--identity-secret", hex.EncodeToString(s.secret)}
	switch svc {
	case app.Orders:
		args = append(args, "--products-url", s.url(app.Products))
	case app.Payments, app.History, app.Identity:
		args = append(args, "--orders-url", s.url(app.Orders))
	case app.Gateway:
		ops, err := s.redis.UserURL(app.Ops)
		if err != nil {
			s.t.Fatal(err)
		}
		args = append(args, "--products-url", s.url(app.Products), "--orders-url", s.url(app.Orders), "--history-url", s.url(app.History), "--payments-url", s.url(app.Payments),
			"--ops-redis-url", ops, "--rate-limit-ip", "-1", "--new-sessions-per-minute", "-1", "--event-streams-per-ip", "-1")
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// On a thread kept until it exits: Pdeathsig fires when the thread that
	// started a child ends, which would kill a restarted service at random.
	exited, err := servers.StartChild(cmd)
	if err != nil {
		s.t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { <-exited; logf.Close(); close(p.done) }()
	s.procs[name] = p
	testenv.WaitFor(s.t, bound, name+" answering /healthz", func() bool {
		select {
		case <-p.done:
			s.t.Fatalf("%s exited at start; see %s", name, logf.Name())
		default:
		}
		resp, err := s.client.Get(s.url(name) + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// signal sends sig to process name, which this suite started, and waits
// until it exited.
func (s *system) signal(name string, sig syscall.Signal) error {
	p := s.procs[name]
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(bound):
		return fmt.Errorf("%s did not exit within %v of %v", name, bound, sig)
	}
}

func (s *system) stopAll() {
	for name, p := range s.procs {
		select {
		case <-p.done:
			continue
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		delete(s.procs, name)
	}
}

// run runs one scenario under load and checks what every scenario asserts.
func (s *system) run(t *testing.T, sc scenario) figures {
	ctx, cancel := context.WithTimeout(t.Context(), 3*bound)
	defer cancel()
	var f figures
	start := time.Now()
	reports := make(chan loadgen.Report, 1)
	loadErr := make(chan error, 1)
	go func() {
		rep, err := loadgen.Run(ctx, loadgen.Config{Target: s.url(app.Gateway), Rate: rate, Duration: loadFor,
			Concurrency: 1000, API: "v1", Settle: bound, OrdersPerSession: 1})
		reports <- rep
		loadErr <- err
	}()
	select { // the fault comes once the load is steady
	case <-time.After(faultAfter):
	case <-ctx.Done():
	}
	f.recovered = time.Now()
	if err := sc.fault(ctx, s, &f); err != nil {
		f.problems = append(f.problems, "fault: "+err.Error())
	}
	rep := <-reports
	if err := <-loadErr; err != nil {
		f.problems = append(f.problems, "load: "+err.Error())
		return f
	}
	for kind, n := range rep.Errors {
		if kind == "http 503" {
			f.errors503 += n
		}
		if strings.Contains(kind, "http 5") && kind != "http 503" {
			f.errors500 += n
		}
	}
	if f.errors500 > 0 {
		f.problems = append(f.problems, fmt.Sprintf("%d answers 5xx other than 503: %v", f.errors500, rep.Errors))
	}
	if rep.NotFinal > 0 {
		f.problems = append(f.problems, fmt.Sprintf("%d accepted orders not final", rep.NotFinal))
	}
	if rep.Accepted == 0 {
		f.problems = append(f.problems, fmt.Sprintf("no order accepted; errors %v", rep.Errors))
	}
	var first time.Time
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(min(created_at), 'epoch') FROM orders.orders WHERE created_at > $1`, f.recovered).Scan(&first); err == nil && first.After(f.recovered) {
		f.first2xx = first.Sub(f.recovered)
	}
	loadEnd := start.Add(loadFor)
	var why string
	deadline := time.Now().Add(bound)
	for {
		if why = s.idle(ctx); why == "" {
			f.drain = max(time.Since(loadEnd), time.Millisecond)
			break
		}
		if time.Now().After(deadline) {
			f.problems = append(f.problems, "not idle: "+why)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var orphans int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM payments.payments p WHERE NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.order_id = p.order_id)`).Scan(&orphans); err != nil {
		f.problems = append(f.problems, err.Error())
	} else if orphans > 0 {
		f.problems = append(f.problems, fmt.Sprintf("%d payments of orders that do not exist", orphans))
	}
	n, problem := s.historiesMatch(ctx, start)
	f.orders = n
	if problem != "" {
		f.problems = append(f.problems, problem)
	}
	return f
}

// idle says why the system is not idle with every order final exactly
// once, or "" when it is.
func (s *system) idle(ctx context.Context) string {
	var notFinal, unpaid, mismatched int
	err := s.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE o.status NOT IN (4, -4)),
		count(*) FILTER (WHERE p.order_id IS NULL),
		count(*) FILTER (WHERE p.order_id IS NOT NULL AND p.status <> o.status)
		FROM orders.orders o LEFT JOIN payments.payments p USING (order_id)`).Scan(&notFinal, &unpaid, &mismatched)
	if err != nil {
		return err.Error()
	}
	if notFinal+unpaid+mismatched > 0 {
		return fmt.Sprintf("%d orders not final, %d without a payment, %d whose status is not their payment's", notFinal, unpaid, mismatched)
	}
	for _, name := range []string{events.OrdersStream, events.PaymentsStream, events.TransactionStream, events.ProductsStream} {
		info, err := stream.Inspect(ctx, s.admin, name)
		if err != nil {
			return err.Error()
		}
		for _, g := range info.Groups {
			if g.Pending != 0 || g.Lag != 0 {
				return fmt.Sprintf("%s/%s pending %d lag %d", name, g.Name, g.Pending, g.Lag)
			}
		}
	}
	return ""
}

// historiesMatch checks, within bound, that the order history of every
// shopper who ordered since start lists exactly their orders in
// PostgreSQL with the same status. It returns how many orders it checked.
func (s *system) historiesMatch(ctx context.Context, since time.Time) (int, string) {
	want := map[string]map[string]int{}
	rows, err := s.pool.Query(ctx, `SELECT user_id, order_id, status FROM orders.orders WHERE user_id IN (SELECT user_id FROM orders.orders WHERE created_at >= $1)`, since)
	if err != nil {
		return 0, err.Error()
	}
	n := 0
	for rows.Next() {
		var u, id string
		var st int
		if err := rows.Scan(&u, &id, &st); err != nil {
			return n, err.Error()
		}
		if want[u] == nil {
			want[u] = map[string]int{}
		}
		want[u][id] = st
		n++
	}
	rows.Close()
	pending := slices.Collect(maps.Keys(want))
	deadline := time.Now().Add(bound)
	var last string
	for len(pending) > 0 {
		pending = slices.DeleteFunc(pending, func(u string) bool {
			got, why := s.history(ctx, u)
			if why != "" {
				last = u + ": " + why
				return false
			}
			if !maps.Equal(got, want[u]) {
				last = fmt.Sprintf("%s: history %v, PostgreSQL %v", u, got, want[u])
				return false
			}
			return true
		})
		if len(pending) > 0 {
			if time.Now().After(deadline) {
				return n, fmt.Sprintf("%d shoppers' histories differ from PostgreSQL, e.g. %s", len(pending), last)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return n, ""
}

// history reads userID's order history from the history service, as a
// signed shopper.
func (s *system) history(ctx context.Context, userID string) (map[string]int, string) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.url(app.History)+"/history?limit=100", nil)
	if err != nil {
		return nil, err.Error()
	}
	req.Header.Set(auth.Header, s.signer.Sign(auth.Identity{Role: auth.RoleShopper, UserID: userID, SessionID: "chaos-" + userID, IP: "127.0.0.1", UserAgent: "chaos"}))
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Sprintf("history answered %d", resp.StatusCode)
	}
	var h struct {
		Orders []struct {
			OrderID string `json:"orderId"`
			Status  int    `json:"status"`
		} `json:"orders"`
	}
	if err := jsonDecode(resp, &h); err != nil {
		return nil, err.Error()
	}
	got := map[string]int{}
	for _, o := range h.Orders {
		got[o.OrderID] = o.Status
	}
	return got, ""
}
