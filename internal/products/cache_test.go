package products

import (
	"log/slog"
	"testing"
	"time"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
)

// TestStaleFillKeepsNewerEntry plays the race that cache-aside is prone
// to: a reader loads a product from Postgres, an update commits and
// refreshes the cache, then the reader stores what it loaded. The version
// check must keep the newer entry.
func TestStaleFillKeepsNewerEntry(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	testenv.Migrate(t, pool, Migrate)
	ctx := t.Context()
	svc, err := NewService(pool, testenv.Redis(t), Config{KeyPrefix: testenv.Name(t, "products"), ProductKey: servicetest.ProductKey()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	old, err := svc.store.product(ctx, "p-00001")
	if err != nil {
		t.Fatal(err)
	}
	price := old.PriceCents + 100
	if _, err := svc.Update(ctx, "p-00001", Patch{PriceCents: &price}); err != nil {
		t.Fatal(err)
	}
	svc.cache.putProducts(ctx, old) // the slow reader
	got, err := svc.Get(ctx, "p-00001")
	if err != nil || got.PriceCents != price {
		t.Errorf("Get after a stale fill = %d, %v; want the updated %d", got.PriceCents, err, price)
	}

	// A newer version does replace an entry.
	newer := old
	newer.Version, newer.PriceCents = 1000, 1
	svc.cache.putProducts(ctx, newer)
	if got, err := svc.Get(ctx, "p-00001"); err != nil || got.PriceCents != 1 {
		t.Errorf("Get after a newer fill = %d, %v; want 1", got.PriceCents, err)
	}
}

// Pages kept in the process are served while fresh and of the newest
// generation this process made; dropping them (a failed bump) keeps
// none of the old ones and still keeps new ones.
func TestLocalPages(t *testing.T) {
	t.Parallel()
	var l localPages
	now := time.Unix(1000, 0)
	l.put("k", 3, []byte("page"), now)
	if p, ok := l.get("k", now.Add(localSearchFor/2)); !ok || string(p.body) != "page" || p.gen != 3 {
		t.Errorf("get = %+v, %v; want the page at generation 3", p, ok)
	}
	if _, ok := l.get("k", now.Add(2*localSearchFor)); ok {
		t.Errorf("a page older than localSearchFor was served")
	}
	l.outdate(4)
	if _, ok := l.get("k", now); ok {
		t.Errorf("a page of an outdated generation was served")
	}
	l.put("k", 3, []byte("stale fill"), now)
	if _, ok := l.get("k", now); ok {
		t.Errorf("a page made at an outdated generation was kept")
	}
	l.put("k", 4, []byte("page 4"), now)
	l.drop()
	if _, ok := l.get("k", now); ok {
		t.Errorf("a dropped page was served")
	}
	l.put("k", 4, []byte("page 4"), now)
	if _, ok := l.get("k", now); !ok {
		t.Errorf("no page kept after a drop")
	}
}
