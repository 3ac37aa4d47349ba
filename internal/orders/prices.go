package orders

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"streamcart/internal/events"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/stream"
)

// The copy of the catalog's prices (orders.catalog_prices, and each
// process's memory of it, priceMemo): what Create prices orders from,
// without asking the products service. It is fed by
// the ProductChanged events of ProductsStream (handleProducts) and by a
// snapshot of the whole catalog, at start and every PriceResync
// (SyncPrices). Each row is replaced only by a newer version of its
// product, so the copy holds, for each product, the newest version that
// reached it by either way, whatever the order they came in. See decision
// 26 of docs/decisions.md.

// prices returns the products of items: from this process's memory of
// the copy (no query at all), then from the copy's table for those the
// memory cannot sell as the shopper expects, then from the catalog, in one
// lookup, for those the copy cannot either. The copy cannot sell a
// product it does not have or has delisted, or at another price than the
// shopper saw (the copy may be behind the catalog). What the catalog
// answers wins, and goes into the copy. A product missing from the result
// is not for sale.
func (s *Service) prices(ctx context.Context, items []ItemRequest) (map[string]product, error) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	found := s.memo.get(ids)
	ask := unsellable(items, found)
	if len(ask) == 0 {
		return found, nil
	}
	copied, err := readPrices(ctx, s.pool, ask)
	if err != nil {
		return nil, err
	}
	s.memo.put(slices.Collect(maps.Values(copied))...)
	maps.Copy(found, s.memo.get(ask))
	if ask = unsellable(items, found); len(ask) == 0 {
		return found, nil
	}
	s.cfg.Metrics.CatalogLookups(1)
	looked, err := s.catalog.lookup(ctx, ask)
	if err != nil {
		return nil, err
	}
	fresh := make([]product, 0, len(looked))
	for _, id := range ask {
		p, ok := looked[id]
		if !ok {
			delete(found, id) // unknown to the catalog, or delisted there
			continue
		}
		found[id] = p
		if p.Version > 0 { // a catalog that says no version cannot be copied
			fresh = append(fresh, p)
		}
	}
	if len(fresh) > 0 {
		s.memo.put(fresh...)
		if _, err := copyPrices(ctx, s.pool, fresh); err != nil {
			// The order does not depend on it: the next one asks again.
			s.log.WarnContext(ctx, "could not add looked-up products to the price copy", "err", err)
		}
	}
	return found, nil
}

// unsellable returns the ids of the items that found cannot sell as the
// shopper expects: missing, delisted, or at another price than the one
// the shopper sent; each once.
func unsellable(items []ItemRequest, found map[string]product) []string {
	var ids []string
	for _, it := range items {
		p, ok := found[it.ProductID]
		if (!ok || !p.Active || (it.PriceCents != nil && *it.PriceCents != p.PriceCents)) && !slices.Contains(ids, it.ProductID) {
			ids = append(ids, it.ProductID)
		}
	}
	return ids
}

// priceMemo is a process's memory of the copy of the prices, which Create
// reads first. The copy's table is written by every replica's consumer
// (a consumer group shares the entries among them), so each process
// reads the rows copied since its last look every PriceRefresh
// (RefreshPrices), and adds what it copies itself at once. It keeps the
// newest version of each product, as the table does. It is safe for
// concurrent use.
type priceMemo struct {
	mu   sync.RWMutex
	byID map[string]product
	// since is the copied_at, on the database's clock, of the newest row
	// read from the table; zero before the first read.
	since time.Time
}

// get returns the products among ids that m has.
func (m *priceMemo) get(ids []string) map[string]product {
	out := make(map[string]product, len(ids))
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, id := range ids {
		if p, ok := m.byID[id]; ok {
			out[id] = p
		}
	}
	return out
}

// put adds ps to m, each unless m has its version or a newer one.
func (m *priceMemo) put(ps ...product) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		if cur, ok := m.byID[p.ID]; !ok || cur.Version < p.Version {
			m.byID[p.ID] = p
		}
	}
}

// refreshMargin is how far before the newest copied_at seen a refresh
// reads again: a write that took its copied_at (its transaction's start)
// before that row's but committed after the refresh read is then still
// read by the next one. The copy's writes are single statements that take
// milliseconds.
const refreshMargin = 5 * time.Second

// RefreshPrices reads into this process's memory of the copy of the
// prices the rows copied since the last refresh (all of them at the
// first). Run does it every PriceRefresh.
func (s *Service) RefreshPrices(ctx context.Context) error {
	s.memo.mu.RLock()
	since := s.memo.since
	s.memo.mu.RUnlock()
	if !since.IsZero() {
		since = since.Add(-refreshMargin)
	}
	rows, err := s.pool.Query(ctx, `SELECT product_id, display_name, price_cents, active, version, changed_at, copied_at
		FROM orders.catalog_prices WHERE copied_at >= $1`, since)
	if err != nil {
		return fmt.Errorf("refresh the price copy: %w", err)
	}
	var (
		p      product
		copied time.Time
		ps     []product
		newest = since
	)
	_, err = pgx.ForEachRow(rows, []any{&p.ID, &p.DisplayName, &p.PriceCents, &p.Active, &p.Version, &p.UpdatedAt, &copied}, func() error {
		ps = append(ps, p)
		if copied.After(newest) {
			newest = copied
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("refresh the price copy: %w", err)
	}
	s.memo.put(ps...)
	s.memo.mu.Lock()
	if newest.After(s.memo.since) {
		s.memo.since = newest
	}
	s.memo.mu.Unlock()
	return nil
}

// refreshPricesLoop runs RefreshPrices at once and every PriceRefresh
// until ctx is cancelled. A failed refresh (PostgreSQL down) is logged
// once and retried at the next tick; the memory keeps what it has, and
// Create reads the table for what it lacks.
func (s *Service) refreshPricesLoop(ctx context.Context) error {
	t := time.NewTicker(s.cfg.PriceRefresh)
	defer t.Stop()
	failing := false
	for {
		err := s.RefreshPrices(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			s.log.WarnContext(ctx, "refreshing the price copy in memory failed; retrying", "err", err)
		case err == nil && failing:
			s.log.InfoContext(ctx, "refreshing the price copy in memory works again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// handleProducts is the batch handler of the products stream: it writes
// the batch's ProductChanged events into the copy, in one statement, and
// ignores every other event type. A change that products did not sign,
// or could not have written, fails the batch with a permanent error; the
// consumer then hands the entries back one at a time, which dead-letters
// just that one. Applying a change twice, or after a newer one, changes
// nothing: it needs no record of the events seen.
func (s *Service) handleProducts(ctx context.Context, msgs []stream.Message) error {
	changes, err := events.ParseAll(msgs, events.TypeProductChanged, func(m stream.Message) (product, error) {
		e, err := events.ParseProductChanged(m, s.cfg.ProductKey)
		return product{
			ID: e.ProductID, DisplayName: e.DisplayName, PriceCents: e.PriceCents,
			Active: e.Active, Version: e.Version, UpdatedAt: e.UpdatedOn,
		}, err
	})
	if err != nil {
		return err // permanent: the consumer isolates and dead-letters it
	}
	if _, err := copyPrices(ctx, s.pool, changes); err != nil {
		if postgres.IsUnavailable(err) {
			return stream.Unavailable(err)
		}
		return err
	}
	s.memo.put(changes...)
	return nil
}

// SyncPrices loads a snapshot of the whole catalog into the copy, a page
// at a time (GET /snapshot of the products service), keeping the newer
// versions the copy has, and returns how many products the catalog has.
// It first makes sure that the service's consumer group on ProductsStream
// exists: every change that the snapshot misses, because it was made
// after its page was read, is then appended to the stream after the
// group was, and the consumer reads it. Run calls it at start and every
// PriceResync; replicas doing it at once only write the same versions.
func (s *Service) SyncPrices(ctx context.Context) (int, error) {
	for _, key := range stream.Partitions(s.cfg.ProductsStream, s.cfg.Consumer.Partitions) {
		if err := stream.CreateGroup(ctx, s.rdb, key, s.cfg.Consumer.Group); err != nil {
			return 0, fmt.Errorf("sync prices: %w", err)
		}
	}
	n := 0
	for after := ""; ; {
		page, err := s.catalog.snapshot(ctx, after)
		if err != nil {
			return n, fmt.Errorf("sync prices: %w", err)
		}
		if _, err := copyPrices(ctx, s.pool, page.Products); err != nil {
			return n, fmt.Errorf("sync prices: %w", err)
		}
		s.memo.put(page.Products...)
		n += len(page.Products)
		if page.Next == "" || page.Next <= after {
			return n, nil
		}
		after = page.Next
	}
}

// syncPricesLoop runs SyncPrices at once, again after a failure (with
// backoff: the products service may not be up yet), and every
// PriceResync after a success, until ctx is cancelled. Until the first
// success the copy may lack products, which Create then looks up.
func (s *Service) syncPricesLoop(ctx context.Context) error {
	failures := 0
	for {
		n, err := s.SyncPrices(ctx)
		wait := s.cfg.PriceResync
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			d := min(time.Second<<min(failures, 5), 30*time.Second)
			wait = d/2 + rand.N(d/2+1)
			s.log.WarnContext(ctx, "loading the catalog snapshot into the price copy failed; retrying", "err", err,
				"attempt", failures, "delay", wait)
		default:
			failures = 0
			s.log.InfoContext(ctx, "price copy synced with the catalog", "products", n)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// PriceCopyLag returns how far the copy of the prices is behind the
// catalog's changes on ProductsStream: how long ago the oldest change that
// the service has not applied yet was appended (0 when it applied every
// one), the most of its partitions. Changes still in the products
// service's outbox are not counted; its outbox metrics show them.
func (s *Service) PriceCopyLag(ctx context.Context) (time.Duration, error) {
	var lag time.Duration
	for _, key := range stream.Partitions(s.cfg.ProductsStream, s.cfg.Consumer.Partitions) {
		d, err := stream.Behind(ctx, s.rdb, key, s.cfg.Consumer.Group)
		if err != nil {
			return 0, err
		}
		lag = max(lag, d)
	}
	return lag, nil
}

// readPrices returns the products of the copy among ids, by id.
func readPrices(ctx context.Context, q querier, ids []string) (map[string]product, error) {
	rows, err := q.Query(ctx, `SELECT product_id, display_name, price_cents, active, version, changed_at
		FROM orders.catalog_prices WHERE product_id = ANY($1)`, pgx.QueryExecModeExec, ids)
	if err != nil {
		return nil, fmt.Errorf("read the price copy: %w", err)
	}
	found := make(map[string]product, len(ids))
	var p product
	_, err = pgx.ForEachRow(rows, []any{&p.ID, &p.DisplayName, &p.PriceCents, &p.Active, &p.Version, &p.UpdatedAt}, func() error {
		found[p.ID] = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the price copy: %w", err)
	}
	return found, nil
}

// execer runs a statement on a pool or in a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// copyPrices writes ps into the copy in one statement, each unless the
// copy has its version or a newer one, and returns how many rows it wrote.
// Of a product that ps holds several times, only the newest version
// counts (one statement cannot write a row twice).
func copyPrices(ctx context.Context, q execer, ps []product) (int64, error) {
	newest := make(map[string]int, len(ps))
	for i, p := range ps {
		if j, ok := newest[p.ID]; !ok || ps[j].Version < p.Version {
			newest[p.ID] = i
		}
	}
	n := len(newest)
	ids, names, prices, active, versions, changed := make([]string, 0, n), make([]string, 0, n), make([]int64, 0, n),
		make([]bool, 0, n), make([]int64, 0, n), make([]time.Time, 0, n)
	// In the order of the ids, so that two statements that write the same
	// products lock their rows in the same order and cannot deadlock.
	for _, id := range slices.Sorted(maps.Keys(newest)) {
		p := ps[newest[id]]
		ids, names, prices = append(ids, p.ID), append(names, p.DisplayName), append(prices, p.PriceCents)
		active, versions, changed = append(active, p.Active), append(versions, p.Version), append(changed, p.UpdatedAt)
	}
	if n == 0 {
		return 0, nil
	}
	tag, err := q.Exec(ctx, `
		INSERT INTO orders.catalog_prices AS c (product_id, display_name, price_cents, active, version, changed_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bool[], $5::bigint[], $6::timestamptz[])
		ON CONFLICT (product_id) DO UPDATE SET
			display_name = excluded.display_name, price_cents = excluded.price_cents, active = excluded.active,
			version = excluded.version, changed_at = excluded.changed_at, copied_at = now()
		WHERE c.version < excluded.version`, ids, names, prices, active, versions, changed)
	if err != nil {
		return 0, fmt.Errorf("write the price copy: %w", err)
	}
	return tag.RowsAffected(), nil
}
