package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres creates an empty database on the shared PostgreSQL server and
// returns its URL. The database is dropped when t ends, closing any
// connections still open to it. Each call makes a new database, so
// parallel tests never see each other's tables.
func Postgres(t testing.TB) string {
	t.Helper()
	// A database on the shared server to run CREATE and DROP DATABASE
	// from: $DATABASE_URL if set, else database "postgres" of a server
	// started on first use.
	admin := shared.pg.get(t, shared.baseDir(t))
	name := Name(t, "test")
	ident := pgx.Identifier{name}.Sanitize()
	if err := execAdmin(admin, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := execAdmin(admin, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// Pool returns a connection pool to a new database made by Postgres. The
// pool is closed, then the database dropped, when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return PoolAt(t, Postgres(t))
}

// PoolAt returns a connection pool to the database at url, such as an
// OwnPostgres's, closed when t ends. It connects only when used.
func PoolAt(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// DeadPool returns a pool of DeadAddr, a PostgreSQL server that is down,
// closed when t ends. It connects only when used.
func DeadPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return PoolAt(t, "postgres://nobody@"+DeadAddr(t)+"/nothing?connect_timeout=10")
}

// execAdmin runs one statement on a fresh connection to adminURL.
func execAdmin(adminURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// Migrate applies a service's migrations to pool twice, failing the test
// on an error: every replica migrates at start, so migrating a migrated
// database must be harmless.
func Migrate(t testing.TB, pool *pgxpool.Pool, migrate func(context.Context, *pgxpool.Pool) error) {
	t.Helper()
	for range 2 {
		if err := migrate(t.Context(), pool); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
}

// Empty reports whether table (schema-qualified, such as "payments.outbox")
// has no rows. An error reads as not empty, so Empty suits WaitFor.
func Empty(ctx context.Context, pool *pgxpool.Pool, table string) bool {
	var n int64
	err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier(strings.Split(table, ".")).Sanitize()).Scan(&n)
	return err == nil && n == 0
}

// Rows returns how many rows table (schema-qualified, such as
// "payments.outbox") has, failing the test on an error.
func Rows(tb testing.TB, pool *pgxpool.Pool, table string) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(tb.Context(), "SELECT count(*) FROM "+pgx.Identifier(strings.Split(table, ".")).Sanitize()).Scan(&n); err != nil {
		tb.Fatalf("count the rows of %s: %v", table, err)
	}
	return n
}

// PoolThroughProxy returns a pool like pool whose connections go through
// a new Proxy, and that Proxy, to break them. The pool sends each
// statement in one write (pgx.QueryExecModeExec), so that the proxy
// recognises it. The pool is closed when tb ends.
func PoolThroughProxy(tb testing.TB, pool *pgxpool.Pool) (*pgxpool.Pool, *Proxy) {
	tb.Helper()
	cfg := pool.Config().Copy()
	proxy := StartProxy(tb, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	host, port, err := net.SplitHostPort(proxy.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Fallbacks = host, uint16(p), nil
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	proxied, err := pgxpool.NewWithConfig(tb.Context(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(proxied.Close)
	return proxied, proxy
}
