package products_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/products"
	"streamcart/internal/servicetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fixture is a Service over its own database and its own Redis keys.
type fixture struct {
	svc    *products.Service
	pool   *pgxpool.Pool
	rdb    redis.UniversalClient
	prefix string
	// stream receives the service's ProductChanged events, once Run
	// relays them.
	stream string
	logs   *testenv.Buffer // what logger wrote
}

// newFixture migrates a fresh database and returns a Service over it,
// caching in rdb (nil: the shared test Redis) under a unique prefix. With
// seed, the sample catalog is loaded.
func newFixture(t testing.TB, rdb redis.UniversalClient, seed bool) *fixture {
	t.Helper()
	ctx := t.Context()
	pool := testenv.Pool(t)
	if err := products.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if rdb == nil {
		rdb = testenv.Redis(t)
	}
	f := &fixture{pool: pool, rdb: rdb, prefix: testenv.Name(t, "products"), stream: testenv.Name(t, "products-stream"), logs: &testenv.Buffer{}}
	svc, err := products.NewService(pool, rdb, products.Config{
		KeyPrefix: f.prefix, ProductKey: servicetest.ProductKey(), ProductsStream: f.stream,
	}, f.logger(t))
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	f.svc = svc
	if seed {
		if err := f.svc.Seed(ctx); err != nil {
			t.Fatalf("Seed: %v", err)
		}
	}
	return f
}

// logger logs Warn and above to the test's output and to f.logs.
func (f *fixture) logger(t testing.TB) *slog.Logger {
	w := io.MultiWriter(t.Output(), f.logs)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
