package postgres_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestMigrateAppliesEachFileOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, testenv.Postgres(t), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
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
	pool, err := postgres.Open(ctx, testenv.Postgres(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	fsys := fstest.MapFS{"migrations/001_bad.sql": {Data: []byte("CREATE TABLE s.a (id int); SELECT nope")}}
	if err := postgres.Migrate(ctx, pool, "s", fsys); err == nil {
		t.Fatal("Migrate succeeded with a broken migration")
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('s.a') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Errorf("table of the failed migration exists = %v, %v", exists, err)
	}
}
