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
