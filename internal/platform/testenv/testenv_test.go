package testenv_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestName(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^orders-[a-z0-9-]+-[0-9a-f]{8}$`)
	a, b := testenv.Name(t, "orders"), testenv.Name(t, "orders")
	for _, got := range []string{a, b} {
		if !valid.MatchString(got) || !strings.Contains(got, "-testname-") {
			t.Errorf("Name(t, orders) = %q, want orders-testname-<8 hex>", got)
		}
	}
	if a == b {
		t.Errorf("two calls of Name(t, orders) both returned %q", a)
	}
	t.Run("Odd/Sub test: ÄÖ!", func(t *testing.T) {
		long := testenv.Name(t, "db")
		if !valid.MatchString("orders-"+strings.TrimPrefix(long, "db-")) || len(long) > 63 {
			t.Errorf("Name(t, db) = %q, want lowercase letters, digits and dashes, at most 63 bytes", long)
		}
	})
}

func TestRedis(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := testenv.Redis(t)
	stream := testenv.Name(t, "stream")
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"k", "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.XLen(ctx, stream).Result(); err != nil || n != 1 {
		t.Errorf("XLEN %s = %d, %v; want 1", stream, n, err)
	}
	if !strings.HasPrefix(testenv.RedisURL(t), "redis://") {
		t.Errorf("RedisURL = %q, want redis://...", testenv.RedisURL(t))
	}
}

// TestPostgresIsolated runs two parallel tests that create the same table
// and checks that each got its own database, and that the databases are
// gone once the tests end.
func TestPostgresIsolated(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	var mu sync.Mutex
	dbs := map[string]bool{}
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"a", "b"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				pool := testenv.Pool(t)
				if _, err := pool.Exec(ctx, "CREATE TABLE items (name text)"); err != nil {
					t.Fatal(err)
				}
				if _, err := pool.Exec(ctx, "INSERT INTO items VALUES ($1)", name); err != nil {
					t.Fatal(err)
				}
				var db string
				var n int
				if err := pool.QueryRow(ctx, "SELECT current_database(), count(*) FROM items").Scan(&db, &n); err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					t.Errorf("database %s has %d rows, want only this test's 1", db, n)
				}
				mu.Lock()
				dbs[db] = true
				mu.Unlock()
			})
		}
	})
	if len(dbs) != 2 {
		t.Fatalf("parallel tests used databases %v, want 2 different ones", dbs)
	}

	conn, err := pgx.Connect(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for db := range dbs {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", db)
		}
	}
}

func TestOwnRedisKillRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	r := testenv.OwnRedis(t, "always")
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("GET k after kill and restart = %q, %v; want \"v\"", got, err)
	}
}

func TestOwnPostgresKillRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p := testenv.OwnPostgres(t)
	if _, err := testenv.PoolAt(t, p.URL("postgres")).Exec(ctx, "CREATE TABLE t (n int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := testenv.PoolAt(t, p.URL("postgres")).QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows after kill and restart = %d, %v; want 1", n, err)
	}
}

func TestDeadServersRefuseEveryConnection(t *testing.T) {
	t.Parallel()
	if err := testenv.DeadRedis(t).Ping(t.Context()).Err(); err == nil {
		t.Error("PING to DeadRedis succeeded, want a refused connection")
	}
	if err := testenv.DeadPool(t).Ping(t.Context()); err == nil {
		t.Error("Ping of DeadPool succeeded, want a refused connection")
	}
}

func TestHandledMeansReadToTheEndAndNothingPending(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	rdb := testenv.Redis(t)
	done, busy, never := testenv.Name(t, "done"), testenv.Name(t, "busy"), testenv.Name(t, "never")
	const group = "g"
	read := func(s string) {
		t.Helper()
		if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{s, ">"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	handled := func() bool { return testenv.Handled(ctx, rdb, group, done, busy) }

	if !testenv.Handled(ctx, rdb, group, never) {
		t.Error("a stream never written is not handled, want handled")
	}
	first := xadd(t, rdb, done, "k", "v")
	xadd(t, rdb, busy, "k", "v")
	if handled() {
		t.Error("handled before any group exists, want not")
	}
	for _, s := range []string{done, busy} {
		if err := rdb.XGroupCreate(ctx, s, group, "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	read(done)
	if err := rdb.XAck(ctx, done, group, first).Err(); err != nil {
		t.Fatal(err)
	}
	if !testenv.Handled(ctx, rdb, group, done) {
		t.Errorf("%s read and acknowledged is not handled, want handled", done)
	}
	if handled() {
		t.Errorf("handled while %s is unread, want not", busy)
	}
	read(busy)
	if handled() {
		t.Errorf("handled while %s is pending, want not", busy)
	}
}

func TestEntriesDecodesEveryEntryInOrder(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	s := testenv.Name(t, "s")
	for _, v := range []string{"a", "b", "c"} {
		xadd(t, rdb, s, "v", v)
	}
	got := testenv.Entries(t, rdb, s, func(name string, xm redis.XMessage) (string, error) {
		if name != s {
			return "", fmt.Errorf("decode called with stream %q, want %q", name, s)
		}
		return strings.ToUpper(xm.Values["v"].(string)), nil
	})
	if diff := cmp.Diff([]string{"A", "B", "C"}, got); diff != "" {
		t.Errorf("Entries (-want +got):\n%s", diff)
	}
}

// xadd appends an entry of field and value to stream and returns its id.
func xadd(t *testing.T, rdb redis.UniversalClient, stream, field, value string) string {
	t.Helper()
	id, err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: []any{field, value}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestEachRepeatRunsAParallelSubtestForEveryRepeat(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	t.Run("each", func(t *testing.T) {
		testenv.EachRepeat(t, func(t *testing.T, r testenv.Repeat) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, r.Name)
		})
	})
	var want []string
	for _, r := range testenv.Repeats {
		want = append(want, r.Name)
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("repeats run (-want +got):\n%s", diff)
	}
}
