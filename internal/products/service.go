// Package products is streamcart's products service: the catalog in
// PostgreSQL (schema "products"), a generated sample catalog with SVG
// images, a cache-aside layer in Redis, and the HTTP API that the gateway
// exposes to shoppers.
//
// Every change of the catalog (its seeding, each update) writes a signed
// ProductChanged event into the service's outbox in the transaction of
// the change, and the relay (Run) appends it to PRODUCTS_STREAM: the
// orders service keeps its copy of the prices from that stream, and asks
// for a snapshot of the catalog (Snapshot) when it starts.
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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/config"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// Schema is the PostgreSQL schema the service owns: the catalog.
const Schema = "products"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or upgrades the products schema: the catalog's tables,
// plus the outbox and processed_events tables. It is idempotent and safe
// to run from several replicas at once. NewService does not call it.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return outbox.MigrateService(ctx, pool, Schema, migrations)
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
	// ProductKey signs the ProductChanged events, so that orders can tell
	// them from forgeries (events.ProductKey). Required.
	ProductKey *events.ProductKey
	// ProductsStream receives the ProductChanged events. Default
	// events.ProductsStream.
	ProductsStream string
	// Outbox configures the relay of the ProductChanged events. Zero
	// fields take outbox.Config's defaults.
	Outbox outbox.Config
	// StreamMaxAge trims ProductsStream as the relay appends to it,
	// keeping about the entries of the last StreamMaxAge; orders loads a
	// snapshot at start, so it needs none older. Zero keeps everything.
	// It must not be negative.
	StreamMaxAge time.Duration
	// StreamPartitions is how many partitions ProductsStream has
	// (stream.Partitions), the system's one number; a product's changes
	// stay in order in one. 0 means 1.
	StreamPartitions int
}

func (c *Config) setDefaults() {
	c.CacheTTL = cmp.Or(c.CacheTTL, 5*time.Minute)
	c.SearchTTL = cmp.Or(c.SearchTTL, 30*time.Second)
	c.KeyPrefix = cmp.Or(c.KeyPrefix, "products")
	c.CacheTimeout = cmp.Or(c.CacheTimeout, 250*time.Millisecond)
	c.ProductsStream = cmp.Or(c.ProductsStream, events.ProductsStream)
}

// Validate reports the problems with c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var p config.Problems
	p.If(c.ProductKey == nil, "ProductKey is required")
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"CacheTTL", c.CacheTTL}, {"SearchTTL", c.SearchTTL}, {"CacheTimeout", c.CacheTimeout}, {"StreamMaxAge", c.StreamMaxAge}} {
		p.If(d.v < 0, "%s %v must not be negative", d.name, d.v)
	}
	return p.Err()
}

// Service runs the catalog's operations. Reads go to Redis first and fall
// back to Postgres on a miss or when Redis fails; Redis errors never fail
// a read. It is safe for concurrent use.
type Service struct {
	store  *store
	cache  *cache
	cfg    Config
	outbox *outbox.Outbox
	log    *slog.Logger
}

// NewService returns a Service over the catalog in pool, caching in rdb
// (nil turns caching off, and leaves Run nothing to relay to: only tests
// do that). Run Migrate on pool first. It does no I/O.
func NewService(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg Config, log *slog.Logger) (*Service, error) {
	if err := config.CheckService("products", log, cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	svc := &Service{
		store: &store{pool: pool},
		cfg:   cfg,
		cache: &cache{
			rdb:       rdb,
			prefix:    cfg.KeyPrefix,
			ttl:       cfg.CacheTTL,
			searchTTL: cfg.SearchTTL,
			timeout:   cfg.CacheTimeout,
			log:       log,
		},
		log: log,
	}
	svc.outbox = outbox.ServiceConfig{
		Outbox: cfg.Outbox, StreamMaxAge: cfg.StreamMaxAge, Consumer: stream.Config{Partitions: cfg.StreamPartitions},
	}.NewOutbox(pool, rdb, Schema, cfg.ProductsStream, events.PartitionKey, log)
	return svc, nil
}

// Run relays the ProductChanged events from the outbox to ProductsStream
// until ctx is cancelled; outages of Redis or PostgreSQL are waited out.
// It needs the Redis client NewService was given.
func (s *Service) Run(ctx context.Context) error {
	if s.cache.rdb == nil {
		return errors.New("products: Run needs a Redis client")
	}
	return s.outbox.Run(ctx)
}

// announce adds the ProductChanged event of each of rs to the outbox as
// part of tx: the event commits with the change or not at all.
func (s *Service) announce(ctx context.Context, tx pgx.Tx, rs ...Versioned) error {
	msgs := make([]*outbox.Message, len(rs))
	for i, r := range rs {
		e := events.ProductChanged{
			ProductID: r.ID, DisplayName: r.DisplayName, PriceCents: r.PriceCents,
			Active: r.Active, Version: r.Version, UpdatedOn: r.UpdatedAt,
		}
		msgs[i] = &outbox.Message{Stream: s.cfg.ProductsStream, Event: e.Event(s.cfg.ProductKey)}
	}
	return s.outbox.Add(ctx, tx, msgs...)
}

// Seed loads SampleCatalog if the catalog is empty and does nothing
// otherwise, announcing every product it inserts (ProductChanged).
// Replicas may call it at once: exactly one inserts.
func (s *Service) Seed(ctx context.Context) error {
	n, err := s.store.seed(ctx, SampleCatalog(), func(tx pgx.Tx, rs []Versioned) error { return s.announce(ctx, tx, rs...) })
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	s.outbox.Kick()
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

// Lookup returns the active products among ids, with their versions, in
// the order of ids, each once; unknown and inactive ids are left out. It
// takes 1 to MaxLookup ids. It costs one Redis round trip when every
// product is cached, plus one query for the misses otherwise.
func (s *Service) Lookup(ctx context.Context, ids []string) ([]Versioned, error) {
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
			found = make(map[string]Versioned, len(rs))
		}
		for _, r := range rs {
			found[r.ID] = r
		}
	}
	out := make([]Versioned, 0, len(ids))
	for _, id := range ids {
		if r, ok := found[id]; ok && r.Active {
			out = append(out, r)
		}
	}
	return out, nil
}

// SnapshotPage is a page of the whole catalog, for a copy of it to start
// from (Snapshot).
type SnapshotPage struct {
	// Products are the page's products, active or not, with their
	// versions, in the order of their ids.
	Products []Versioned `json:"products"`
	// Next is the after of the next page: the page's last id, or empty
	// when this was the last page.
	Next string `json:"next"`
}

// Snapshot returns up to limit products (1 to MaxSnapshotPage; 0 means
// MaxSnapshotPage), active or not, whose ids come after after ("" for
// the first page), read from PostgreSQL, not the cache: the orders
// service's copy of the prices starts from the pages, then follows the
// ProductChanged events, keeping the newest version of each product.
func (s *Service) Snapshot(ctx context.Context, after string, limit int) (SnapshotPage, error) {
	if limit == 0 {
		limit = MaxSnapshotPage
	}
	if limit < 1 || limit > MaxSnapshotPage {
		return SnapshotPage{}, invalid("limit", "must be between 1 and %d, not %d", MaxSnapshotPage, limit)
	}
	if after != "" && !web.ValidID(after) {
		return SnapshotPage{}, invalid("after", "must be a product id")
	}
	rs, err := s.store.page(ctx, after, limit)
	if err != nil {
		return SnapshotPage{}, err
	}
	page := SnapshotPage{Products: rs}
	if len(rs) == limit {
		page.Next = rs[len(rs)-1].ID
	}
	return page, nil
}

// Update applies p to the product with id and returns the result. The
// change and its ProductChanged event commit in one transaction. The
// cache shows the change at once: the product's entry is replaced and
// cached search pages become stale. If Redis cannot be told, the update
// still succeeds and a stale entry may live for up to Config.CacheTTL; a
// Warn log says so.
func (s *Service) Update(ctx context.Context, id string, p Patch) (Product, error) {
	p, err := p.normalize()
	if err != nil {
		return Product{}, err
	}
	var r Versioned
	err = pgx.BeginFunc(ctx, s.store.pool, func(tx pgx.Tx) error {
		if r, err = update(ctx, tx, id, p); err != nil {
			return err
		}
		return s.announce(ctx, tx, r)
	})
	if err != nil {
		return Product{}, err
	}
	s.outbox.Kick()
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
