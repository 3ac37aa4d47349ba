package postgres_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// open returns a pool of at most maxConns connections to a new database,
// made by postgres.Open and closed when t ends.
func open(t *testing.T, maxConns int32) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), testenv.Postgres(t), maxConns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestMigrateAppliesEachFileOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := open(t, 10)
	fsys := fstest.MapFS{
		"migrations/001_items.sql": {Data: []byte("CREATE TABLE shop.items (id int PRIMARY KEY)")},
		"migrations/002_seed.sql":  {Data: []byte("INSERT INTO shop.items VALUES (1), (2)")},
		"migrations/notes.txt":     {Data: []byte("not a migration")},
	}
	// Replicas starting at once: the lock makes each file run once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, pool, "shop", fsys) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM shop.items").Scan(&n); err != nil || n != 2 {
		t.Errorf("items = %d, %v; want 2 rows (each migration once)", n, err)
	}
	fsys["migrations/003_more.sql"] = &fstest.MapFile{Data: []byte("INSERT INTO shop.items VALUES (3)")}
	if err := postgres.Migrate(ctx, pool, "shop", fsys); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM shop.items").Scan(&n); err != nil || n != 3 {
		t.Errorf("items = %d, %v; want 3 after a new migration", n, err)
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := open(t, 2)
	fsys := fstest.MapFS{"migrations/001_bad.sql": {Data: []byte("CREATE TABLE s.a (id int); SELECT nope")}}
	if err := postgres.Migrate(ctx, pool, "s", fsys); err == nil {
		t.Fatal("Migrate succeeded with a broken migration")
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('s.a') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Errorf("table of the failed migration exists = %v, %v", exists, err)
	}
}

func TestIsUnavailableKnowsEveryWayTheDatabaseGoesAway(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection reset", fmt.Errorf("query: %w", reset), true},
		{"unexpected EOF", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), true},
		{"EOF", io.EOF, true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"read-only (a standby)", &pgconn.PgError{Code: "25006"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"deadline", context.DeadlineExceeded, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"no rows", pgx.ErrNoRows, false},
		{"nil", nil, false},
	} {
		if got := postgres.IsUnavailable(tt.err); got != tt.want {
			t.Errorf("%s: IsUnavailable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// outcome is how postgres classifies an error.
type outcome struct{ unavailable, unknown bool }

func classify(err error) outcome {
	return outcome{postgres.IsUnavailable(err), postgres.OutcomeUnknown(err)}
}

// TestAWriteCutOffAfterItWasSentHasAnUnknownOutcome breaks real
// connections in every way a write can meet and checks what
// IsUnavailable and OutcomeUnknown make of the error: an outage, and an
// unknown outcome exactly when the statement may have reached the server.
func TestAWriteCutOffAfterItWasSentHasAnUnknownOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.Postgres(t)
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	direct := func() *pgx.Conn {
		t.Helper()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	if _, err := direct().Exec(ctx, "CREATE TABLE t (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	rows := func(n int) int {
		var c int
		if err := direct().QueryRow(ctx, "SELECT count(*) FROM t WHERE n = $1", n).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	proxy := testenv.StartProxy(t, net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	viaProxy := func() *pgx.Conn {
		t.Helper()
		c := cfg.Copy()
		host, port, _ := net.SplitHostPort(proxy.Addr())
		c.Host = host
		fmt.Sscan(port, &c.Port)
		c.Fallbacks = nil
		conn, err := pgx.ConnectConfig(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}

	// Each statement is sent in one write: a simple query (no arguments)
	// or, with arguments, QueryExecModeExec.
	const extendedSQL = "INSERT INTO t VALUES ($1) RETURNING n"
	simple := func(conn *pgx.Conn, n int) error {
		_, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO t VALUES (%d)", n))
		return err
	}
	extended := func(conn *pgx.Conn, n int) error {
		return conn.QueryRow(ctx, extendedSQL, pgx.QueryExecModeExec, n).Scan(new(int))
	}
	n := 0
	for _, protocol := range []struct {
		name   string
		insert func(*pgx.Conn, int) error
		text   func(int) string
	}{
		{"simple", simple, func(n int) string { return fmt.Sprintf("INSERT INTO t VALUES (%d)", n) }},
		{"extended", extended, func(int) string { return extendedSQL }},
	} {
		for _, lost := range []struct {
			name   string
			cut    func(text string) <-chan struct{}
			stored bool // whether the server got the statement and stored the row
		}{
			{"lost on the way to the server", proxy.BreakBefore, false},
			{"done by the server, answer lost", proxy.BreakAfter, true},
		} {
			t.Run(protocol.name+": "+lost.name, func(t *testing.T) {
				n++
				conn := viaProxy()
				cut := lost.cut(protocol.text(n))
				err := protocol.insert(conn, n)
				<-cut
				if got := classify(err); got != (outcome{true, true}) {
					t.Errorf("%v: %+v, want an outage with an unknown outcome", err, got)
				}
				if lost.stored {
					testenv.WaitFor(t, 20*time.Second, "the row stored", func() bool { return rows(n) == 1 })
				} else if c := rows(n); c != 0 {
					t.Errorf("%d rows stored, want none", c)
				}
			})
		}
	}
	t.Run("COMMIT done by the server, answer lost", func(t *testing.T) {
		tx, err := viaProxy().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (100)"); err != nil {
			t.Fatal(err)
		}
		cut := proxy.BreakAfter("commit")
		err = tx.Commit(ctx)
		<-cut
		if got := classify(err); got != (outcome{true, true}) {
			t.Errorf("%v: %+v, want an outage with an unknown outcome", err, got)
		}
		testenv.WaitFor(t, 20*time.Second, "the row committed", func() bool { return rows(100) == 1 })
	})
	t.Run("server ends the session mid-statement", func(t *testing.T) {
		conn, admin := direct(), direct()
		pid := conn.PgConn().PID()
		errc := make(chan error, 1)
		go func() {
			_, err := conn.Exec(ctx, "INSERT INTO t SELECT 101 FROM pg_sleep(60)")
			errc <- err
		}()
		testenv.WaitFor(t, 20*time.Second, "the statement running", func() bool {
			var sleeping bool
			_ = admin.QueryRow(ctx, "SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $1", pid).Scan(&sleeping)
			return sleeping
		})
		if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
			t.Fatal(err)
		}
		err := <-errc
		if got := classify(err); got != (outcome{true, true}) {
			t.Errorf("%v: %+v, want an outage with an unknown outcome", err, got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := cfg.Copy()
		host, port, _ := net.SplitHostPort(addr)
		c.Host = host
		fmt.Sscan(port, &c.Port)
		c.Fallbacks = nil
		_, err = pgx.ConnectConfig(ctx, c)
		if got := classify(err); got != (outcome{true, false}) {
			t.Errorf("%v: %+v, want an outage whose statement was not sent", err, got)
		}
	})
	t.Run("no connection free before the deadline", func(t *testing.T) {
		pool := open(t, 1)
		held, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Release()
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err = pool.Exec(short, "SELECT 1")
		if got := classify(err); got != (outcome{true, false}) {
			t.Errorf("%v: %+v, want an outage whose statement was not sent", err, got)
		}
	})
	t.Run("closed pool", func(t *testing.T) {
		pool := open(t, 1)
		pool.Close()
		_, err := pool.Exec(ctx, "SELECT 1")
		if got := classify(err); got != (outcome{true, false}) {
			t.Errorf("%v: %+v, want an outage whose statement was not sent", err, got)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		tx, err := direct().BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, "INSERT INTO t VALUES (102)")
		if got := classify(err); got != (outcome{true, false}) {
			t.Errorf("%v: %+v, want an outage whose statement was refused", err, got)
		}
	})
	t.Run("a fault of the statement", func(t *testing.T) {
		conn := direct()
		for _, sql := range []string{"INSERT INTO t VALUES (100)", "INSERT INTO t VALUES ('x')", "INSERT INTO nowhere VALUES (1)"} {
			_, err := conn.Exec(ctx, sql)
			if got := classify(err); err == nil || got != (outcome{false, false}) {
				t.Errorf("%s: %v: %+v, want an error that is not an outage", sql, err, got)
			}
		}
	})
}
