package servers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/redisacl"
)

// Environment of the helper process started by TestParentDeathStopsServers.
const (
	helperEnv    = "SERVERS_TEST_HELPER" // "redis" or "postgres"
	helperDirEnv = "SERVERS_TEST_DIR"
)

func TestMain(m *testing.M) {
	if kind := os.Getenv(helperEnv); kind != "" {
		runHelper(kind, os.Getenv(helperDirEnv))
		return
	}
	os.Exit(m.Run())
}

// runHelper starts a server, prints its pid and blocks until killed.
func runHelper(kind, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var pid int
	switch kind {
	case "redis":
		r, err := StartRedis(ctx, RedisOptions{Dir: filepath.Join(dir, "redis")})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		pid = r.PID()
	case "postgres":
		p, err := StartPostgres(ctx, PostgresOptions{Dir: filepath.Join(dir, "pg"), Fast: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		pid = p.PID()
	}
	fmt.Println("pid", pid)
	select {}
}

// testDir returns a directory that the postgres system user can enter,
// removed when the test ends. t.TempDir is mode 0700, so it will not do
// when running as root.
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "servers-test-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func startRedis(t *testing.T, opts RedisOptions) *Redis {
	t.Helper()
	return started(t, func(ctx context.Context) (*Redis, error) { return StartRedis(ctx, opts) })
}

func startPostgres(t *testing.T, opts PostgresOptions) *Postgres {
	t.Helper()
	return started(t, func(ctx context.Context) (*Postgres, error) { return StartPostgres(ctx, opts) })
}

// started starts a server with start, failing t if it does not start, and
// stops it when t ends.
func started[S interface{ Stop(context.Context) error }](t *testing.T, start func(context.Context) (S, error)) S {
	t.Helper()
	srv, err := start(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// execSQL runs sql on a connection of its own to the database of url,
// failing t on an error.
func execSQL(t *testing.T, ctx context.Context, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// scanRow runs the query sql on a connection of its own to the database
// of url, failing t if it cannot connect, and scans its one row into dest.
func scanRow(t *testing.T, ctx context.Context, url, sql string, dest ...any) error {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

func TestRedisRestartKeepsData(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	r := startRedis(t, RedisOptions{Dir: filepath.Join(testDir(t), "redis")})
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/0") {
		t.Errorf("URL() = %q, want redis://127.0.0.1:port/0", r.URL())
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if pid := r.PID(); pid != 0 {
		t.Errorf("PID() after Stop = %d, want 0", pid)
	}
	if err := r.ping(ctx); err == nil {
		t.Error("PING after Stop succeeded")
	}
	addr := r.Addr()
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Addr() != addr {
		t.Errorf("Addr() after Restart = %s, want %s", r.Addr(), addr)
	}
	got, err := c.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Errorf("GET k after restart = %q, %v; want \"v\"", got, err)
	}
}

func TestRedisWithUsersWantsTheirCredentialsAcrossRestarts(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	reader := redisacl.User{Name: "reader", Password: "reader-pw", Grants: []redisacl.Grant{{Commands: []string{"get"}, Keys: []string{"k"}}}}
	r := startRedis(t, RedisOptions{Dir: filepath.Join(testDir(t), "redis"), AdminPassword: "admin-pw", Users: []redisacl.User{reader}})
	if fi, err := os.Stat(filepath.Join(r.Dir(), "users.acl")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("users.acl: %v; want it readable by its owner only", err)
	}
	for attempt := range 2 {
		admin, err := redis.ParseURL(r.URL())
		if err != nil {
			t.Fatal(err)
		}
		a := redis.NewClient(admin)
		defer a.Close()
		if err := a.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Errorf("start %d: SET as the admin (%s): %v", attempt+1, r.URL(), err)
		}
		u, err := r.UserURL("reader")
		if err != nil {
			t.Fatal(err)
		}
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		defer c.Close()
		if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
			t.Errorf("start %d: GET k as reader = %q, %v", attempt+1, got, err)
		}
		if err := c.Set(ctx, "k", "w", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Errorf("start %d: SET k as reader: %v, want NOPERM", attempt+1, err)
		}
		anonymous := redis.NewClient(&redis.Options{Addr: r.Addr()})
		defer anonymous.Close()
		if err := anonymous.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("start %d: PING without credentials: %v, want NOAUTH", attempt+1, err)
		}
		if attempt == 0 {
			if err := r.Restart(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := StartRedis(ctx, RedisOptions{Dir: testDir(t), Users: []redisacl.User{reader}}); err == nil {
		t.Error("StartRedis with Users and no AdminPassword succeeded")
	}
}

func TestRedisKillKeepsFsyncedWrites(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	r := startRedis(t, RedisOptions{Dir: filepath.Join(testDir(t), "redis"), AppendFsync: "always"})
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"n", "1"}}).Err(); err != nil {
		t.Fatal(err)
	}
	pid := r.PID()
	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	if processIsNamed(pid, "redis-server") {
		t.Fatalf("redis-server pid %d alive after Kill", pid)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := c.XLen(ctx, "s").Result(); err != nil || n != 1 {
		t.Errorf("XLEN s after kill and restart = %d, %v; want 1", n, err)
	}
}

// takenPort returns a port on 127.0.0.1 that the test holds until it ends.
func takenPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestRedisPortInUse(t *testing.T) {
	t.Parallel()
	port := takenPort(t)
	r, err := StartRedis(testContext(t), RedisOptions{Dir: testDir(t), Port: port})
	if err == nil {
		r.Stop(context.Background())
		t.Fatalf("StartRedis on busy port %d succeeded", port)
	}
	if !strings.Contains(err.Error(), "exited during startup") || !strings.Contains(err.Error(), "redis.log") {
		t.Errorf("StartRedis on busy port: error %q does not say it exited and show the log", err)
	}
}

func TestRedisPicksAnotherPortWhenTheOneItPickedIsTakenMeanwhile(t *testing.T) {
	t.Parallel()
	taken := takenPort(t)
	picks := 0
	pick := func() (int, error) {
		picks++
		if picks == 1 {
			return taken, nil // free when picked, another process's since
		}
		return freePort()
	}
	r, err := StartRedis(testContext(t), RedisOptions{Dir: testDir(t), pickPort: pick})
	if err != nil {
		t.Fatalf("StartRedis after its first pick was taken: %v", err)
	}
	defer r.Stop(context.Background())
	if r.Port() == taken || picks != 2 {
		t.Errorf("StartRedis runs on port %d after %d picks; want another port than the taken %d, on the second pick", r.Port(), picks, taken)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	if err := rdb.Ping(testContext(t)).Err(); err != nil {
		t.Errorf("PING: %v", err)
	}
}

func TestRedisMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("REDIS_SERVER_BIN", "")
	_, err := StartRedis(testContext(t), RedisOptions{Dir: t.TempDir()})
	var missing *MissingError
	if !errors.As(err, &missing) {
		t.Fatalf("StartRedis without redis-server: error %v, want *MissingError", err)
	}
	if want := "apt-get install -y redis-server"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestRedisClusterServesUsersOnEveryNodeAndFailsOverAndRestarts(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	writer := redisacl.User{Name: "writer", Password: "writer-pw", Grants: []redisacl.Grant{{Commands: []string{"set", "get"}, Keys: []string{"k:*"}}}}
	dir := testDir(t)
	opts := RedisClusterOptions{Dir: dir, AdminPassword: "admin-pw", Users: []redisacl.User{writer}}
	c := started(t, func(ctx context.Context) (*RedisCluster, error) { return StartRedisCluster(ctx, opts) })
	if got := len(c.Nodes()); got != 6 {
		t.Fatalf("%d nodes, want 3 primaries and 3 replicas", got)
	}
	u, err := c.UserURL("writer")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "redis+cluster://writer:writer-pw@127.0.0.1:") {
		t.Errorf("UserURL = %s", u)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.Nodes()[0].Addr()}, Username: "writer", Password: "writer-pw", MaxRedirects: 8})
	defer rdb.Close()
	// Keys in many slots reach every primary: the user exists on each.
	for i := range 30 {
		if err := rdb.Set(ctx, "k:"+string(rune('a'+i)), "v", 0).Err(); err != nil {
			t.Fatalf("SET as writer: %v", err)
		}
	}
	if err := rdb.Set(ctx, "other", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("SET other as writer: %v, want NOPERM", err)
	}

	primary, err := rdb.MasterForKey(ctx, "k:a")
	if err != nil {
		t.Fatal(err)
	}
	victim := c.Node(primary.Options().Addr)
	if victim == nil {
		t.Fatalf("no node at %s", primary.Options().Addr)
	}
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := rdb.Set(ctx, "k:a", "after", 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write to k:a within 30s of killing its primary: %v", err)
		}
		rdb.ReloadState(ctx)
		time.Sleep(100 * time.Millisecond) // the failover is the cluster's, on its own timer
	}

	// The old primary comes back as a replica; a start on the same Dir
	// finds the same cluster.
	if err := victim.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	again := started(t, func(ctx context.Context) (*RedisCluster, error) { return StartRedisCluster(ctx, opts) })
	if again.URL() != c.URL() {
		t.Errorf("restarted on the same Dir at %s, first at %s", again.URL(), c.URL())
	}
	if got, err := rdb.Get(ctx, "k:a").Result(); err != nil || got != "after" {
		t.Errorf("GET k:a after the restart = %q, %v", got, err)
	}
}

func TestInstallCommand(t *testing.T) {
	t.Parallel()
	got := InstallCommand("redis-server", "postgresql")
	if want := "apt-get install -y redis-server postgresql"; got != want {
		t.Errorf("InstallCommand(redis-server, postgresql) = %q, want %q", got, want)
	}
}

func TestPostgresReuseDir(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := filepath.Join(testDir(t), "data", "pg")
	p, err := StartPostgres(ctx, PostgresOptions{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CreateDatabase(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := p.CreateDatabase(ctx, "shop"); err != nil {
		t.Errorf("second CreateDatabase(shop): %v, want nil", err)
	}
	execSQL(t, ctx, p.URL("shop"), "CREATE TABLE items (name text)")
	execSQL(t, ctx, p.URL("shop"), "INSERT INTO items VALUES ('kept')")
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	p2 := startPostgres(t, PostgresOptions{Dir: dir, Fast: true})
	var name string
	if err := scanRow(t, ctx, p2.URL("shop"), "SELECT name FROM items", &name); err != nil || name != "kept" {
		t.Errorf("row after reusing %s = %q, %v; want \"kept\"", dir, name, err)
	}
}

func TestPostgresDirInUse(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testDir(t), "pg")
	p := startPostgres(t, PostgresOptions{Dir: dir, Fast: true})

	p2, err := StartPostgres(testContext(t), PostgresOptions{Dir: dir, Fast: true})
	if err == nil {
		p2.Stop(context.Background())
		t.Fatal("second StartPostgres on a live dir succeeded")
	}
	if want := fmt.Sprintf("data dir %s in use by pid %d", dir, p.PID()); !strings.Contains(err.Error(), want) {
		t.Errorf("second StartPostgres: error %q does not contain %q", err, want)
	}
}

func TestPostgresKillRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p := startPostgres(t, PostgresOptions{Dir: filepath.Join(testDir(t), "pg")})
	execSQL(t, ctx, p.URL("postgres"), "CREATE TABLE t (n int); INSERT INTO t VALUES (1)")
	port := p.Port()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Port() != port {
		t.Errorf("Port() after Restart = %d, want %d", p.Port(), port)
	}
	wantCommittedRow(t, ctx, p, "kill and crash recovery")
}

func TestPostgresStopImmediateBreaksSessionsAndKeepsCommits(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p := startPostgres(t, PostgresOptions{Dir: filepath.Join(testDir(t), "pg")})
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE TABLE t (n int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	if err := p.StopImmediate(ctx); err != nil {
		t.Fatal(err)
	}
	if p.PID() != 0 || groupAlive(pid) {
		t.Errorf("PID() = %d, group of %d alive = %v after StopImmediate; want 0 and none", p.PID(), pid, groupAlive(pid))
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a session open across StopImmediate still works")
	}
	if err := p.StopImmediate(ctx); err != nil {
		t.Errorf("StopImmediate of a stopped server: %v", err)
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	wantCommittedRow(t, ctx, p, "an immediate stop and crash recovery")
}

// wantCommittedRow checks that table t of p's database "postgres" still
// has the one row committed to it before a stop; after names the stop.
func wantCommittedRow(t *testing.T, ctx context.Context, p *Postgres, after string) {
	t.Helper()
	var n int
	if err := scanRow(t, ctx, p.URL("postgres"), "SELECT count(*) FROM t", &n); err != nil || n != 1 {
		t.Errorf("rows after %s = %d, %v; want 1", after, n, err)
	}
}

func TestPostgresWrongUser(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := filepath.Join(testDir(t), "pg")
	p := startPostgres(t, PostgresOptions{Dir: dir, Fast: true})
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p2, err := StartPostgres(ctx, PostgresOptions{Dir: dir, Fast: true, User: "someone"})
	if err == nil {
		p2.Stop(ctx)
		t.Fatal("StartPostgres with a role the cluster lacks succeeded")
	}
	if !strings.Contains(err.Error(), `"someone" does not exist`) {
		t.Errorf("error %q does not name the missing role", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("StartPostgres took %s to report a missing role; want it without waiting for the deadline", d)
	}
}

// TestParentDeathStopsServers kills a process that started a server and
// checks that the kernel takes the server down too (Pdeathsig).
func TestParentDeathStopsServers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux-only")
	}
	t.Parallel()
	for _, tc := range []struct{ kind, comm string }{
		{"redis", "redis-server"},
		{"postgres", "postgres"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"="+tc.kind, helperDirEnv+"="+testDir(t))
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			pidc := make(chan int, 1)
			go func() {
				line, _ := bufio.NewReader(out).ReadString('\n')
				pid, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "pid "))
				pidc <- pid
			}()
			var pid int
			select {
			case pid = <-pidc:
			case <-time.After(time.Minute):
				t.Fatal("helper did not report a server pid")
			}
			if pid == 0 || !processIsNamed(pid, tc.comm) {
				t.Fatalf("helper reported pid %d, not a running %s", pid, tc.comm)
			}

			cmd.Process.Kill()
			cmd.Wait()
			deadline := time.Now().Add(20 * time.Second)
			for processIsNamed(pid, tc.comm) {
				if time.Now().After(deadline) {
					// Only our own orphan can be this pid.
					_ = syscall.Kill(-pid, syscall.SIGKILL)
					t.Fatalf("%s pid %d still running after its parent died", tc.comm, pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestPostgresFallbackForUntraversableParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	t.Parallel()
	ctx := testContext(t)
	dir := filepath.Join(t.TempDir(), "data", "pg") // t.TempDir is mode 0700
	opts := PostgresOptions{Dir: dir, Fast: true, FallbackRoot: testDir(t)}
	p, err := StartPostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, ctx, p.URL("postgres"), "CREATE TABLE kept (n int)")
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(dir); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("data dir %s is not a link to the fallback: %v", dir, err)
	}

	// A second start finds the cluster through the link.
	p, err = StartPostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx)
	var exists bool
	if err := scanRow(t, ctx, p.URL("postgres"), "SELECT to_regclass('kept') IS NOT NULL", &exists); err != nil || !exists {
		t.Errorf("table from the first start: exists %v, %v", exists, err)
	}
}

func TestPostgresUntraversableParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pg") // t.TempDir is mode 0700
	_, err := StartPostgres(testContext(t), PostgresOptions{Dir: dir, Fast: true})
	if err == nil || !strings.Contains(err.Error(), "cannot enter") {
		t.Errorf("StartPostgres under a 0700 directory: error %v, want one saying postgres cannot enter it", err)
	}
}
