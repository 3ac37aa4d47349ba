package products

import (
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
)

// newSeededService returns a Service over a fresh database holding the
// sample catalog, caching in rdb under keys of its own.
func newSeededService(t *testing.T, rdb redis.UniversalClient) *Service {
	t.Helper()
	pool := testenv.Pool(t)
	if err := Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(pool, rdb, Config{KeyPrefix: testenv.Name(t, "products"), ProductKey: servicetest.ProductKey()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Seed(t.Context()); err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestStaleFillKeepsNewerEntry plays the race that cache-aside is prone
// to: a reader loads a product from Postgres, an update commits and
// refreshes the cache, then the reader stores what it loaded. The version
// check must keep the newer entry.
func TestStaleFillKeepsNewerEntry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	svc := newSeededService(t, testenv.Redis(t))
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

// Pages kept in the process are served while Redis said within
// localSearchFor that their generation is current, and while it is the
// newest generation this process made; dropping them (a failed bump)
// keeps none of the old ones and still keeps new ones.
func TestLocalPages(t *testing.T) {
	t.Parallel()
	var l localPages
	now := time.Unix(1000, 0)
	l.put("k", 3, []byte("page"))
	if _, ok := l.get("k", now); ok {
		t.Errorf("a page was served before Redis said its generation was current")
	}
	l.seen(3, now)
	if p, ok := l.get("k", now.Add(localSearchFor/2)); !ok || string(p.body) != "page" || p.gen != 3 {
		t.Errorf("get = %+v, %v; want the page at generation 3", p, ok)
	}
	later := now.Add(2 * localSearchFor)
	if _, ok := l.get("k", later); ok {
		t.Errorf("a page was served more than localSearchFor after Redis said its generation was current")
	}
	l.seen(3, later)
	if _, ok := l.get("k", later); !ok {
		t.Errorf("a page was not served after Redis said again that its generation was current")
	}
	l.seen(4, now.Add(-localSearchFor))
	if _, ok := l.get("k", later); !ok {
		t.Errorf("a read that started before the last one outdated a page")
	}
	l.seen(4, later)
	if _, ok := l.get("k", later); ok {
		t.Errorf("a page of a generation that Redis says is not current was served")
	}
	l.put("k", 4, []byte("page 4"))
	if p, ok := l.get("k", later); !ok || string(p.body) != "page 4" {
		t.Errorf("get = %+v, %v; want page 4", p, ok)
	}
	l.outdate(5)
	if _, ok := l.get("k", later); ok {
		t.Errorf("a page of an outdated generation was served")
	}
	l.put("k", 4, []byte("stale fill"))
	if p := l.pages["k"]; string(p.body) == "stale fill" {
		t.Errorf("a page made at an outdated generation was kept")
	}
	l.put("k", 5, []byte("page 5"))
	l.seen(5, later)
	l.drop()
	if _, ok := l.get("k", later); ok {
		t.Errorf("a dropped page was served")
	}
	l.put("k", 5, []byte("page 5"))
	l.seen(5, later)
	if _, ok := l.get("k", later); !ok {
		t.Errorf("no page kept after a drop")
	}
}

// One read of the search generation serves every search page kept in
// the process: a search whose page is kept reads the generation alone
// when it was not read lately, and then the other searches whose pages
// the process keeps cost no Redis command for localSearchFor. So a
// second of searches costs one command, not a round trip per query.
func TestSearchesShareOneReadOfTheGeneration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := testenv.Redis(t)
	commands := testenv.CountCommands(rdb)
	svc := newSeededService(t, rdb)
	queries := []Query{{Q: "puma"}, {Q: "shirt"}, {Q: "", Limit: 12}}
	search := func(q Query) int {
		t.Helper()
		before := commands.Count()
		if _, err := svc.SearchJSON(ctx, q); err != nil {
			t.Fatalf("SearchJSON(%+v): %v", q, err)
		}
		return commands.Count() - before
	}
	for _, q := range queries {
		search(q) // cached in Redis and kept in the process
	}
	// Each attempt starts with what Redis said last older than
	// localSearchFor; one that takes longer than localSearchFor (a busy
	// machine) proves nothing, and is tried again.
	for attempt := 1; ; attempt++ {
		svc.cache.pages.mu.Lock()
		svc.cache.pages.checked = time.Time{}
		svc.cache.pages.mu.Unlock()
		start := time.Now()
		first := search(queries[0])
		var others int
		for _, q := range queries[1:] {
			others += search(q)
		}
		if time.Since(start) > localSearchFor && attempt < 5 {
			continue
		}
		if first != 1 {
			t.Errorf("the first search sent %d Redis commands; want 1 (a read of the generation)", first)
		}
		if others != 0 {
			t.Errorf("the other searches sent %d Redis commands; want none", others)
		}
		return
	}
}
