// Package products is streamcart's products service: the catalog in
// PostgreSQL (schema "products"), a generated sample catalog with SVG
// images, a cache-aside layer in Redis, and the HTTP API that the gateway
// exposes to shoppers and the orders service calls to price orders.
package products

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/config"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/web"
)

// Schema is the PostgreSQL schema the service owns: the catalog.
const Schema = "products"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or upgrades the products schema: the catalog's tables.
// It is idempotent and safe to run from several replicas at once.
// NewService does not call it.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return postgres.Migrate(ctx, pool, Schema, migrations)
}

// Config tunes a Service. The zero value is ready to use: every zero
// field takes the default its comment gives.
type Config struct {
	// CacheTTL is how long a product stays in Redis. Default 5 minutes.
	CacheTTL time.Duration
	// SearchTTL is how long a search page or the category list stays in
	// Redis. Updates make cached pages stale at once regardless. Default
	// 30 seconds.
	SearchTTL time.Duration
	// KeyPrefix starts every Redis key, e.g. "products" gives
	// "products:v1:p-00001". Default "products".
	KeyPrefix string
	// CacheTimeout bounds each Redis round trip, so a slow Redis delays a
	// request by at most this before Postgres answers instead. It applies
	// to the client's socket reads only if its ContextTimeoutEnabled is
	// set. Default 250 milliseconds.
	CacheTimeout time.Duration
}

func (c *Config) setDefaults() {
	c.CacheTTL = cmp.Or(c.CacheTTL, 5*time.Minute)
	c.SearchTTL = cmp.Or(c.SearchTTL, 30*time.Second)
	c.KeyPrefix = cmp.Or(c.KeyPrefix, "products")
	c.CacheTimeout = cmp.Or(c.CacheTimeout, 250*time.Millisecond)
}

// Validate reports the problems with c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var problems []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"CacheTTL", c.CacheTTL}, {"SearchTTL", c.SearchTTL}, {"CacheTimeout", c.CacheTimeout}} {
		if d.v < 0 {
			problems = append(problems, fmt.Errorf("%s %v must not be negative", d.name, d.v))
		}
	}
	return errors.Join(problems...)
}

// Service runs the catalog's operations. Reads go to Redis first and fall
// back to Postgres on a miss or when Redis fails; Redis errors never fail
// a read. It is safe for concurrent use.
type Service struct {
	store *store
	cache *cache
	log   *slog.Logger
}

// NewService returns a Service over the catalog in pool, caching in rdb
// (nil turns caching off). Run Migrate on pool first. It does no I/O.
func NewService(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg Config, log *slog.Logger) (*Service, error) {
	if err := config.CheckService("products", log, cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Service{
		store: &store{pool: pool},
		cache: &cache{
			rdb:       rdb,
			prefix:    cfg.KeyPrefix,
			ttl:       cfg.CacheTTL,
			searchTTL: cfg.SearchTTL,
			timeout:   cfg.CacheTimeout,
			log:       log,
		},
		log: log,
	}, nil
}

// Seed loads SampleCatalog if the catalog is empty and does nothing
// otherwise. Replicas may call it at once: exactly one inserts.
func (s *Service) Seed(ctx context.Context) error {
	n, err := s.store.seed(ctx, SampleCatalog())
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if err := s.cache.changed(ctx); err != nil {
		s.log.WarnContext(ctx, "search cache not invalidated after seeding", "err", err)
	}
	s.log.InfoContext(ctx, "catalog seeded", "products", n)
	return nil
}

// Search returns a page of the active products that match q. An invalid q
// yields an Invalid error.
func (s *Service) Search(ctx context.Context, q Query) (Page, error) {
	b, err := s.SearchJSON(ctx, q)
	if err != nil {
		return Page{}, err
	}
	var page Page
	if err := json.Unmarshal(b, &page); err != nil {
		return Page{}, fmt.Errorf("search: %w", err)
	}
	return page, nil
}

// SearchJSON is Search with the page encoded as the HTTP API sends it,
// which is how the cache keeps it: a cached search costs one Redis round
// trip and no decoding or encoding.
func (s *Service) SearchJSON(ctx context.Context, q Query) ([]byte, error) {
	q, err := q.normalize()
	if err != nil {
		return nil, err
	}
	return s.cachedJSON(ctx, s.cache.searchKey(searchParts(q)...), func() (any, error) {
		return s.store.search(ctx, q)
	})
}

// cachedJSON returns the JSON of what fill returns, from the search cache
// when the entry is of the current generation, else from fill (and then
// caches it).
func (s *Service) cachedJSON(ctx context.Context, key string, fill func() (any, error)) ([]byte, error) {
	gen, b, cacheable := s.cache.fresh(ctx, key)
	if b != nil {
		return b, nil
	}
	v, err := fill()
	if err != nil {
		return nil, err
	}
	if b, err = json.Marshal(v); err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	if cacheable {
		s.cache.store(ctx, key, gen, b)
	}
	return b, nil
}

// Get returns the product with id, active or not, or an error wrapping
// ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Product, error) {
	if !web.ValidID(id) {
		return Product{}, fmt.Errorf("product %q: %w", id, ErrNotFound)
	}
	if r, ok := s.cache.products(ctx, []string{id})[id]; ok {
		return r.Product, nil
	}
	r, err := s.store.product(ctx, id)
	if err != nil {
		return Product{}, err
	}
	s.cache.putProducts(ctx, r)
	return r.Product, nil
}

// Lookup returns the active products among ids, in the order of ids, each
// once; unknown and inactive ids are left out. It takes 1 to MaxLookup
// ids. It costs one Redis round trip when every product is cached, plus one
// query for the misses otherwise.
func (s *Service) Lookup(ctx context.Context, ids []string) ([]Product, error) {
	ids, err := checkLookup(ids)
	if err != nil {
		return nil, err
	}
	found := s.cache.products(ctx, ids)
	var misses []string
	for _, id := range ids {
		if _, ok := found[id]; !ok {
			misses = append(misses, id)
		}
	}
	if len(misses) > 0 {
		rs, err := s.store.products(ctx, misses)
		if err != nil {
			return nil, err
		}
		s.cache.putProducts(ctx, rs...)
		if found == nil {
			found = make(map[string]record, len(rs))
		}
		for _, r := range rs {
			found[r.ID] = r
		}
	}
	out := make([]Product, 0, len(ids))
	for _, id := range ids {
		if r, ok := found[id]; ok && r.Active {
			out = append(out, r.Product)
		}
	}
	return out, nil
}

// Update applies p to the product with id and returns the result. The
// cache shows the change at once: the product's entry is replaced and
// cached search pages become stale. If Redis cannot be told, the update
// still succeeds and a stale entry may live for up to Config.CacheTTL; a
// Warn log says so.
func (s *Service) Update(ctx context.Context, id string, p Patch) (Product, error) {
	p, err := p.normalize()
	if err != nil {
		return Product{}, err
	}
	r, err := s.store.update(ctx, id, p)
	if err != nil {
		return Product{}, err
	}
	if err := s.cache.changed(ctx, r); err != nil {
		s.log.WarnContext(ctx, "product cache not invalidated; stale reads possible until the entry expires",
			"product_id", id, "err", err)
	}
	s.log.InfoContext(ctx, "product updated", "product_id", id, "version", r.Version)
	return r.Product, nil
}

// Categories returns the master categories with their sub categories and
// the number of active products in each, sorted by name.
func (s *Service) Categories(ctx context.Context) ([]Category, error) {
	b, err := s.cachedJSON(ctx, s.cache.searchKey("categories"), func() (any, error) {
		return s.store.categories(ctx)
	})
	if err != nil {
		return nil, err
	}
	var cs []Category
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	return cs, nil
}
