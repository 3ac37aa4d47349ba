package products_test

import (
	"cmp"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/products"
	"streamcart/internal/servicetest"
)

func TestSeedIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, nil, false)
	for i := range 2 {
		if err := f.svc.Seed(ctx); err != nil {
			t.Fatalf("Seed #%d: %v", i+1, err)
		}
	}
	assertCatalog(t, f)
	if err := products.Migrate(ctx, f.pool); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
}

func TestSeedConcurrently(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, nil, false)
	// Replicas starting together, each with its own Service.
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		svc, err := products.NewService(f.pool, f.rdb, products.Config{KeyPrefix: f.prefix, ProductKey: servicetest.ProductKey()}, f.logger(t))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs[i] = svc.Seed(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Seed #%d: %v", i+1, err)
		}
	}
	assertCatalog(t, f)
}

// assertCatalog checks that f's database holds exactly SampleCatalog.
func assertCatalog(t *testing.T, f *fixture) {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(t.Context(), "SELECT count(*) FROM products.products").Scan(&n); err != nil {
		t.Fatal(err)
	}
	want := products.SampleCatalog()
	if n != len(want) || n < 240 {
		t.Fatalf("catalog has %d products, want %d (at least 240)", n, len(want))
	}
	for _, i := range []int{0, 1, len(want) / 2, len(want) - 1} {
		got, err := f.svc.Get(t.Context(), want[i].ID)
		if err != nil {
			t.Fatalf("Get(%s): %v", want[i].ID, err)
		}
		if diff := gocmp.Diff(want[i], got, cmpopts.IgnoreFields(products.Product{}, "UpdatedAt")); diff != "" {
			t.Errorf("Get(%s) (-want +got):\n%s", want[i].ID, diff)
		}
		if got.UpdatedAt.IsZero() {
			t.Errorf("Get(%s).UpdatedAt is zero", want[i].ID)
		}
	}
}

// expectSearch computes a search over SampleCatalog the way the service
// should: case-insensitive substring, category prefix, byte order of
// names then ids. It returns the page's ids and the total.
func expectSearch(q products.Query) (ids []string, total int) {
	var match []products.Product
	master, sub, _ := strings.Cut(q.Category, "/")
	for _, p := range products.SampleCatalog() {
		if !strings.Contains(strings.ToLower(p.DisplayName), strings.ToLower(q.Q)) ||
			master != "" && !strings.EqualFold(p.MasterCategory, master) ||
			sub != "" && !strings.EqualFold(p.SubCategory, sub) {
			continue
		}
		match = append(match, p)
	}
	slices.SortFunc(match, func(a, b products.Product) int {
		return cmp.Or(strings.Compare(a.DisplayName, b.DisplayName), strings.Compare(a.ID, b.ID))
	})
	limit := cmp.Or(q.Limit, products.DefaultLimit)
	for _, p := range match[min(q.Offset, len(match)):min(q.Offset+limit, len(match))] {
		ids = append(ids, p.ID)
	}
	return ids, len(match)
}

func ids[P products.Product | products.Versioned](ps []P) []string {
	var out []string
	for _, p := range ps {
		switch p := any(p).(type) {
		case products.Product:
			out = append(out, p.ID)
		case products.Versioned:
			out = append(out, p.ID)
		}
	}
	return out
}

func TestSearch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	tests := []struct {
		q        products.Query
		minTotal int // guards the oracle against matching nothing
	}{
		{products.Query{}, 240},
		{products.Query{Limit: 100}, 240},
		{products.Query{Q: "puma"}, 10},
		{products.Query{Q: "PUMA"}, 10},
		{products.Query{Q: "uma"}, 10},
		{products.Query{Q: "men black"}, 1},
		{products.Query{Q: "Jack & Jones"}, 1},
		{products.Query{Category: "Footwear"}, 20},
		{products.Query{Category: "footwear"}, 20},
		{products.Query{Category: "Accessories/Watches"}, 5},
		{products.Query{Category: "apparel/topwear", Q: "shirt"}, 5},
		{products.Query{Q: "puma", Category: "Footwear", Limit: 3, Offset: 2}, 3},
		{products.Query{Limit: 10, Offset: 20}, 240},
		{products.Query{Category: "Footwear", Limit: 10, Offset: 10_000}, 20},
		{products.Query{Q: "no such product"}, 0},
		{products.Query{Category: "Furniture"}, 0},
		{products.Query{Q: "100%"}, 0},    // % is literal, not a wildcard
		{products.Query{Q: "T_shirt"}, 0}, // so is _
	}
	for _, tt := range tests {
		got, err := f.svc.Search(t.Context(), tt.q)
		if err != nil {
			t.Errorf("Search(%+v): %v", tt.q, err)
			continue
		}
		wantIDs, wantTotal := expectSearch(tt.q)
		if wantTotal < tt.minTotal {
			t.Errorf("Search(%+v): oracle total %d < %d; the sample catalog changed?", tt.q, wantTotal, tt.minTotal)
		}
		if got.Total != wantTotal || got.Limit != cmp.Or(tt.q.Limit, 24) || got.Offset != tt.q.Offset {
			t.Errorf("Search(%+v) total, limit, offset = %d, %d, %d; want %d, %d, %d",
				tt.q, got.Total, got.Limit, got.Offset, wantTotal, cmp.Or(tt.q.Limit, 24), tt.q.Offset)
		}
		if diff := gocmp.Diff(wantIDs, ids(got.Products)); diff != "" {
			t.Errorf("Search(%+v) ids (-want +got):\n%s", tt.q, diff)
		}
		if got.Products == nil {
			t.Errorf("Search(%+v).Products is nil, want an empty slice (JSON [])", tt.q)
		}
	}
}

func TestSearchPagesAddUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	all, err := f.svc.Search(t.Context(), products.Query{Category: "Apparel", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var paged []products.Product
	for offset := 0; offset < all.Total; offset += 7 {
		page, err := f.svc.Search(t.Context(), products.Query{Category: "Apparel", Limit: 7, Offset: offset})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != all.Total {
			t.Errorf("page at offset %d: Total = %d, want %d", offset, page.Total, all.Total)
		}
		paged = append(paged, page.Products...)
	}
	want := all.Products[:min(all.Total, 100)]
	if diff := gocmp.Diff(ids(want), ids(paged)[:len(want)]); diff != "" {
		t.Errorf("pages of 7 differ from one page (-one +paged):\n%s", diff)
	}
}

func TestSearchRejectsBadQueries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, false)
	for _, q := range []products.Query{{Limit: -1}, {Limit: 101}, {Offset: -1}, {Offset: 10_001}} {
		if _, err := f.svc.Search(t.Context(), q); errs.KindOf(err) != errs.KindInvalid {
			t.Errorf("Search(%+v) error = %v, want an Invalid error", q, err)
		}
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, nil, true)
	no := false
	if _, err := f.svc.Update(ctx, "p-00004", products.Patch{Active: &no}); err != nil {
		t.Fatal(err)
	}
	// The second call is served from the cache the first one filled.
	for _, round := range []string{"cold", "warm"} {
		got, err := f.svc.Lookup(ctx, []string{"p-00003", "p-99999", "p-00001", "p-00004", "p-00003", "p-00002"})
		if err != nil {
			t.Fatalf("%s Lookup: %v", round, err)
		}
		if diff := gocmp.Diff([]string{"p-00003", "p-00001", "p-00002"}, ids(got)); diff != "" {
			t.Errorf("%s Lookup ids (-want +got):\n%s", round, diff)
		}
		catalog := products.SampleCatalog()
		if len(got) > 0 && got[0].PriceCents != catalog[2].PriceCents {
			t.Errorf("%s Lookup p-00003 price = %d, want %d", round, got[0].PriceCents, catalog[2].PriceCents)
		}
	}
	for _, in := range [][]string{nil, {}, make([]string, 101), {"p-00001", ""}, {"p-00001", "p 00002"}} {
		if _, err := f.svc.Lookup(ctx, in); errs.KindOf(err) != errs.KindInvalid {
			t.Errorf("Lookup(%q) error = %v, want an Invalid error", in, err)
		}
	}
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	if _, err := f.svc.Get(t.Context(), "p-99999"); !errors.Is(err, products.ErrNotFound) {
		t.Errorf("Get(p-99999) error = %v, want ErrNotFound", err)
	}
}

// TestCacheIsUsed changes Postgres behind the service's back: reads that
// still show the old data prove they came from Redis.
func TestCacheIsUsed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, nil, true)
	q := products.Query{Q: "puma", Limit: 5}
	before, err := f.svc.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	cats, err := f.svc.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := before.Products[0].ID
	p, err := f.svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Lookup(ctx, []string{id, "p-00001"}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.rdb.Exists(ctx, f.prefix+":v1:"+id).Result(); err != nil || n != 1 {
		t.Errorf("EXISTS %s:v1:%s = %d, %v; want 1", f.prefix, id, n, err)
	}

	if _, err := f.pool.Exec(ctx, "UPDATE products.products SET price_cents = 777, active = false"); err != nil {
		t.Fatal(err)
	}

	got, err := f.svc.Get(ctx, id)
	if err != nil || got.PriceCents != p.PriceCents || !got.Active {
		t.Errorf("Get(%s) = price %d, active %v, %v; want the cached %d, true", id, got.PriceCents, got.Active, err, p.PriceCents)
	}
	looked, err := f.svc.Lookup(ctx, []string{id, "p-00001"})
	if err != nil || len(looked) != 2 || looked[0].PriceCents != p.PriceCents {
		t.Errorf("Lookup = %v, %v; want both products, cached", ids(looked), err)
	}
	after, err := f.svc.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(before, after); diff != "" {
		t.Errorf("cached Search differs (-before +after):\n%s", diff)
	}
	cats2, err := f.svc.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(cats, cats2); diff != "" {
		t.Errorf("cached Categories differ (-before +after):\n%s", diff)
	}
	// A product never cached comes from Postgres.
	if got, err := f.svc.Lookup(ctx, []string{"p-00002"}); err != nil || len(got) != 0 {
		t.Errorf("Lookup(uncached, now inactive p-00002) = %v, %v; want none", ids(got), err)
	}
}

func TestUpdateInvalidatesCache(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, nil, true)
	const id = "p-00001"
	q := products.Query{Q: "Zebra"}
	// Warm every cache.
	if _, err := f.svc.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Lookup(ctx, []string{id}); err != nil {
		t.Fatal(err)
	}
	if page, err := f.svc.Search(ctx, q); err != nil || page.Total != 0 {
		t.Fatalf("Search(Zebra) = %d products, %v; want 0", page.Total, err)
	}
	before, err := f.svc.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}

	price, name := int64(1999), "  Zebra Limited Edition  "
	updated, err := f.svc.Update(ctx, id, products.Patch{PriceCents: &price, DisplayName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if updated.PriceCents != 1999 || updated.DisplayName != "Zebra Limited Edition" || !updated.Active {
		t.Errorf("Update = %+v", updated)
	}
	if got, err := f.svc.Get(ctx, id); err != nil || got.PriceCents != 1999 {
		t.Errorf("Get after Update = %d, %v; want 1999", got.PriceCents, err)
	}
	if got, err := f.svc.Lookup(ctx, []string{id}); err != nil || len(got) != 1 || got[0].PriceCents != 1999 {
		t.Errorf("Lookup after Update = %+v, %v; want price 1999", got, err)
	}
	if page, err := f.svc.Search(ctx, q); err != nil || len(page.Products) != 1 || page.Products[0].PriceCents != 1999 {
		t.Errorf("Search(Zebra) after Update = %+v, %v; want p-00001 at 1999", page, err)
	}

	no := false
	if _, err := f.svc.Update(ctx, id, products.Patch{Active: &no}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.Lookup(ctx, []string{id}); err != nil || len(got) != 0 {
		t.Errorf("Lookup after deactivation = %v, %v; want none", ids(got), err)
	}
	if page, err := f.svc.Search(ctx, q); err != nil || page.Total != 0 {
		t.Errorf("Search(Zebra) after deactivation total = %d, %v; want 0", page.Total, err)
	}
	if got, err := f.svc.Get(ctx, id); err != nil || got.Active {
		t.Errorf("Get after deactivation: active = %v, %v; want false", got.Active, err)
	}
	after, err := f.svc.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total(after) != total(before)-1 {
		t.Errorf("Categories count %d after deactivating one of %d", total(after), total(before))
	}
}

// A search page is kept in the process for a moment: a change through
// another replica of the service (here, another Service on the same
// PostgreSQL and Redis) shows in this one's searches within about a
// second, one through this one at once (TestUpdateInvalidatesCache).
func TestAnotherReplicasChangeReachesSearchesSoon(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, nil, true)
	other, err := products.NewService(f.pool, f.rdb, products.Config{KeyPrefix: f.prefix, ProductKey: servicetest.ProductKey()}, f.logger(t))
	if err != nil {
		t.Fatal(err)
	}
	q := products.Query{Q: "puma", Limit: 5}
	before, err := f.svc.Search(ctx, q)
	if err != nil || len(before.Products) == 0 {
		t.Fatalf("Search = %+v, %v", before, err)
	}
	id, price := before.Products[0].ID, before.Products[0].PriceCents+1
	if _, err := other.Update(ctx, id, products.Patch{PriceCents: &price}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testenv.WaitFor(t, 10*time.Second, "the other replica's price in the search", func() bool {
		page, err := f.svc.Search(ctx, q)
		return err == nil && len(page.Products) > 0 && page.Products[0].ID == id && page.Products[0].PriceCents == price
	})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the change took %v to reach the search, want about a second", d)
	}
}

func total(cs []products.Category) int {
	n := 0
	for _, c := range cs {
		n += c.Count
	}
	return n
}

func TestUpdateErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	zero, price := int64(0), int64(100)
	tests := []struct {
		id       string
		patch    products.Patch
		wantKind errs.Kind
	}{
		{"p-00001", products.Patch{}, errs.KindInvalid},
		{"p-00001", products.Patch{PriceCents: &zero}, errs.KindInvalid},
		{"p-99999", products.Patch{PriceCents: &price}, errs.KindNotFound},
	}
	for _, tt := range tests {
		if _, err := f.svc.Update(t.Context(), tt.id, tt.patch); errs.KindOf(err) != tt.wantKind {
			t.Errorf("Update(%s, %+v) error = %v, want kind %v", tt.id, tt.patch, err, tt.wantKind)
		}
	}
	if _, err := f.svc.Update(t.Context(), "p-99999", products.Patch{PriceCents: &price}); !errors.Is(err, products.ErrNotFound) {
		t.Errorf("Update(p-99999) error = %v, want ErrNotFound", err)
	}
}

func TestCategories(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	got, err := f.svc.Categories(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, p := range products.SampleCatalog() {
		counts[p.MasterCategory+"/"+p.SubCategory]++
	}
	var want []products.Category
	for _, key := range slices.Sorted(maps.Keys(counts)) {
		master, sub, _ := strings.Cut(key, "/")
		if len(want) == 0 || want[len(want)-1].Name != master {
			want = append(want, products.Category{Name: master})
		}
		c := &want[len(want)-1]
		c.Count += counts[key]
		c.SubCategories = append(c.SubCategories, products.SubCategory{Name: sub, Count: counts[key]})
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("Categories (-want +got):\n%s", diff)
	}
}

func TestUndecodableCacheEntryIsAMiss(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, nil, true)
	key := f.prefix + ":v1:p-00001"
	if err := f.rdb.Set(ctx, key, "{not json", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Get(ctx, "p-00001")
	if err != nil || got.ID != "p-00001" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if s, err := f.rdb.Get(ctx, key).Result(); err != nil || !strings.Contains(s, `"id":"p-00001"`) {
		t.Errorf("cache entry after refill = %q, %v; want the product", s, err)
	}
}

// TestRedisOutage runs the service against a Redis address where nothing
// listens: every operation still works, from Postgres.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t, testenv.DeadRedis(t), true) // Seed itself must cope
	start := time.Now()
	for range 3 {
		page, err := f.svc.Search(ctx, products.Query{Q: "puma"})
		if _, wantTotal := expectSearch(products.Query{Q: "puma"}); err != nil || page.Total != wantTotal {
			t.Errorf("Search = %d products, %v; want %d", page.Total, err, wantTotal)
		}
		if got, err := f.svc.Lookup(ctx, []string{"p-00002", "p-00001"}); err != nil || len(got) != 2 {
			t.Errorf("Lookup = %v, %v", ids(got), err)
		}
		if got, err := f.svc.Get(ctx, "p-00001"); err != nil || got.ID != "p-00001" {
			t.Errorf("Get = %+v, %v", got, err)
		}
		if _, err := f.svc.Categories(ctx); err != nil {
			t.Errorf("Categories: %v", err)
		}
	}
	price := int64(4242)
	if got, err := f.svc.Update(ctx, "p-00001", products.Patch{PriceCents: &price}); err != nil || got.PriceCents != price {
		t.Errorf("Update = %d, %v; want %d", got.PriceCents, err, price)
	}
	if got, err := f.svc.Get(ctx, "p-00001"); err != nil || got.PriceCents != price {
		t.Errorf("Get after Update = %d, %v; want %d", got.PriceCents, err, price)
	}
	d := time.Since(start)
	if d > 5*time.Second {
		t.Errorf("operations took %v with Redis down; the cache should back off", d)
	}
	// One warning, then one more per second of backoff at most.
	if n, max := f.logs.Count("product cache unavailable"), int(d/time.Second)+2; n < 1 || n > max {
		t.Errorf("logged %d cache outage warnings in %v, want 1 to %d", n, d, max)
	}
	if n := f.logs.Count("product cache not invalidated"); n != 1 {
		t.Errorf("logged %d invalidation warnings, want 1", n)
	}
}

func TestNewServiceRequiresALogger(t *testing.T) {
	t.Parallel()
	svc, err := products.NewService(nil, nil, products.Config{}, nil)
	if err == nil || svc != nil || !strings.Contains(err.Error(), "a logger is required") {
		t.Errorf("NewService with a nil logger = %v, %v; want an error that a logger is required", svc, err)
	}
}

func TestConfigValidateNamesTheBadField(t *testing.T) {
	t.Parallel()
	key := servicetest.ProductKey()
	tests := []testenv.ConfigCase[products.Config]{
		{Name: "only the key", Config: products.Config{ProductKey: key}},
		{Name: "all set", Config: products.Config{
			CacheTTL: time.Hour, SearchTTL: time.Second, KeyPrefix: "p", CacheTimeout: time.Second,
			ProductKey: key, ProductsStream: "P", StreamMaxAge: time.Hour,
		}},
		{Name: "no key", Config: products.Config{}, WantField: "ProductKey"},
		{Name: "negative cache TTL", Config: products.Config{ProductKey: key, CacheTTL: -time.Second}, WantField: "CacheTTL"},
		{Name: "negative search TTL", Config: products.Config{ProductKey: key, SearchTTL: -time.Second}, WantField: "SearchTTL"},
		{Name: "negative cache timeout", Config: products.Config{ProductKey: key, CacheTimeout: -time.Second}, WantField: "CacheTimeout"},
		{Name: "negative stream max age", Config: products.Config{ProductKey: key, StreamMaxAge: -time.Second}, WantField: "StreamMaxAge"},
	}
	testenv.CheckConfigs(t, tests, products.Config.Validate, func(cfg products.Config) error {
		_, err := products.NewService(nil, nil, cfg, slog.New(slog.DiscardHandler))
		return err
	})
}
