package orders_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/orders"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/products"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

// lookups counts the catalog lookups the products service served.
func (e *env) lookups() int { return e.catalogCalls.of(http.MethodPost, "/products/lookup") }

// copiedPrice returns the price and version of product id in the copy of
// the prices; ok is false when the copy does not have it.
func (e *env) copiedPrice(t *testing.T, id string) (price, version int64, ok bool) {
	t.Helper()
	err := e.pool.QueryRow(t.Context(), `SELECT price_cents, version FROM orders.catalog_prices WHERE product_id = $1`, id).
		Scan(&price, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return price, version, true
}

// copied waits until the copy of the prices has product id at price, and
// then has the service read it into its memory (as it does every
// PriceRefresh).
func (e *env) copied(t *testing.T, id string, price int64) {
	t.Helper()
	testenv.WaitFor(t, waitLong, "the copy of the prices has the new price", func() bool {
		got, _, ok := e.copiedPrice(t, id)
		return ok && got == price
	})
	if err := e.svc.RefreshPrices(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// copySize returns how many products the copy of the prices has.
func (e *env) copySize(t *testing.T) int { return testenv.Rows(t, e.pool, "orders.catalog_prices") }

// fullCopy waits until the copy of the prices has the whole catalog.
func (e *env) fullCopy(t *testing.T) {
	t.Helper()
	testenv.WaitFor(t, waitLong, "the copy of the prices has the whole catalog", func() bool {
		return e.copySize(t) == products.SampleSize
	})
}

func TestAKnownProductIsPricedWithoutAskingTheCatalog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start(t)
	e.fullCopy(t)
	ps := forSale(t, 2)
	before := e.lookups()

	o := e.mustCreate(t, "u-1", orders.CreateRequest{Items: []orders.ItemRequest{
		{ProductID: ps[0].ID, Qty: 1, PriceCents: price(ps[0].PriceCents)},
		{ProductID: ps[1].ID, Qty: 2},
	}})
	if want := ps[0].PriceCents + 2*ps[1].PriceCents; o.AmountCents != want {
		t.Errorf("order amount = %d, want %d", o.AmountCents, want)
	}
	if n := e.lookups() - before; n != 0 {
		t.Errorf("the products service served %d lookups for an order of products in the copy, want 0", n)
	}
}

func TestAPriceChangeReachesTheCopyAndTheOldPriceIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start(t)
	e.fullCopy(t)
	p := forSale(t, 1)[0]

	newPrice := p.PriceCents + 250
	if _, err := e.catalog.Update(t.Context(), p.ID, products.Patch{PriceCents: &newPrice}); err != nil {
		t.Fatal(err)
	}
	e.copied(t, p.ID, newPrice)

	stale := e.create(t, "u-1", "", orders.CreateRequest{Items: []orders.ItemRequest{{ProductID: p.ID, Qty: 1, PriceCents: price(p.PriceCents)}}})
	if stale.status != http.StatusConflict || stale.code() != "price_changed" {
		t.Errorf("POST /orders at the old price = %d %s, want 409 price_changed", stale.status, stale.body)
	}
	before := e.lookups()
	o := e.mustCreate(t, "u-1", orders.CreateRequest{Items: []orders.ItemRequest{{ProductID: p.ID, Qty: 1, PriceCents: price(newPrice)}}})
	if o.AmountCents != newPrice {
		t.Errorf("order amount = %d, want the new price %d", o.AmountCents, newPrice)
	}
	if n := e.lookups() - before; n != 0 {
		t.Errorf("an order at the copied new price made %d lookups, want 0", n)
	}

	// Delisting reaches the copy too, and the product is refused.
	inactive := false
	if _, err := e.catalog.Update(t.Context(), p.ID, products.Patch{Active: &inactive}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, waitLong, "the delisting reached the copy", func() bool {
		_, v, _ := e.copiedPrice(t, p.ID)
		return v == 3
	})
	if err := e.svc.RefreshPrices(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := e.create(t, "u-1", "", cart(1, p)); r.status != http.StatusUnprocessableEntity || r.code() != "unknown_product" {
		t.Errorf("POST /orders of a delisted product = %d %s, want 422 unknown_product", r.status, r.body)
	}
	servicetest.WantNoDeadLetters(t, e.rdb, e.cfg.ProductsStream)
}

func TestAShopperWhoSawANewerPriceThanTheCopyIsServedByTheCatalog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil) // not started: the copy does not follow the catalog
	p := forSale(t, 1)[0]
	e.mustCreate(t, "u-1", cart(1, p)) // the copy now has the product
	newPrice := p.PriceCents - 100
	if _, err := e.catalog.Update(t.Context(), p.ID, products.Patch{PriceCents: &newPrice}); err != nil {
		t.Fatal(err)
	}
	before := e.lookups()
	o := e.mustCreate(t, "u-1", orders.CreateRequest{Items: []orders.ItemRequest{{ProductID: p.ID, Qty: 1, PriceCents: price(newPrice)}}})
	if o.AmountCents != newPrice || e.lookups()-before != 1 {
		t.Errorf("order at the catalog's new price = %d after %d lookups, want %d after 1", o.AmountCents, e.lookups()-before, newPrice)
	}
	if got, _, _ := e.copiedPrice(t, p.ID); got != newPrice {
		t.Errorf("copied price after the lookup = %d, want %d", got, newPrice)
	}
}

func TestAProductUnknownToTheCopyIsLookedUpOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil) // not started: the copy is empty
	ps := forSale(t, 3)
	if n := e.copySize(t); n != 0 {
		t.Fatalf("the copy has %d products before any order, want 0", n)
	}

	e.mustCreate(t, "u-1", cart(1, ps[0], ps[1]))
	if n := e.lookups(); n != 1 {
		t.Errorf("an order of 2 products unknown to the copy made %d lookups, want 1", n)
	}
	for _, p := range ps[:2] {
		if got, v, ok := e.copiedPrice(t, p.ID); !ok || got != p.PriceCents || v != 1 {
			t.Errorf("copy of %s after the lookup = %d v%d (%v), want %d v1", p.ID, got, v, ok, p.PriceCents)
		}
	}
	e.mustCreate(t, "u-2", cart(2, ps[0], ps[1]))
	if n := e.lookups(); n != 1 {
		t.Errorf("after a second order of the same products: %d lookups, want still 1", n)
	}

	// An unknown product is asked about once, with the other unknown one,
	// then refused.
	r := e.create(t, "u-3", "", orders.CreateRequest{Items: []orders.ItemRequest{
		{ProductID: ps[0].ID, Qty: 1}, {ProductID: "p-nope", Qty: 1}, {ProductID: ps[2].ID, Qty: 1},
	}})
	if r.status != http.StatusUnprocessableEntity || r.code() != "unknown_product" || !strings.Contains(string(r.body), "p-nope") {
		t.Errorf("POST /orders with p-nope = %d %s, want 422 unknown_product naming it", r.status, r.body)
	}
	if n := e.lookups(); n != 2 {
		t.Errorf("after an order with two products unknown to the copy: %d lookups, want 2", n)
	}
	e.nothingStored(t, "u-3")
}

func TestTheCopySurvivesARestartAndCatchesUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	testenv.Run(t, e.catalog.Run)
	stop := testenv.Run(t, e.svc.Run)
	e.fullCopy(t)
	p := forSale(t, 1)[0]
	stop()

	// While orders is down, the price changes twice.
	var last int64
	for _, change := range []int64{100, 200} {
		last = p.PriceCents + change
		if _, err := e.catalog.Update(t.Context(), p.ID, products.Patch{PriceCents: &last}); err != nil {
			t.Fatal(err)
		}
	}

	// A new process has the copy at once, before it runs: no lookups.
	svc := e.newService(t)
	before := e.lookups()
	if _, _, err := svc.Create(t.Context(), identity("u-1"), cart(1, forSale(t, 2)[1]), ""); err != nil {
		t.Fatalf("Create after the restart: %v", err)
	}
	if n := e.lookups() - before; n != 0 {
		t.Errorf("an order right after the restart made %d lookups, want 0", n)
	}
	// Running, it reads the changes made while it was down.
	testenv.Run(t, svc.Run)
	e.copied(t, p.ID, last)
	if _, v, _ := e.copiedPrice(t, p.ID); v != 3 {
		t.Errorf("copied version = %d, want 3", v)
	}
}

func TestTheSnapshotFillsTheCopyWhenTheStreamLostItsEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	testenv.Run(t, e.catalog.Run)
	testenv.WaitFor(t, waitLong, "the seeding's events on the stream", func() bool {
		n, err := e.rdb.XLen(t.Context(), e.cfg.ProductsStream).Result()
		return err == nil && n == products.SampleSize
	})
	// Redis lost the stream (restarted empty, or trimmed it).
	if err := e.rdb.Del(t.Context(), e.cfg.ProductsStream).Err(); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.SyncPrices(t.Context())
	if err != nil || n != products.SampleSize {
		t.Fatalf("SyncPrices = %d, %v; want %d", n, err, products.SampleSize)
	}
	if got := e.copySize(t); got != products.SampleSize {
		t.Errorf("copy after the snapshot has %d products, want %d", got, products.SampleSize)
	}
	// The group exists from the snapshot on: a change made now is read.
	p := forSale(t, 1)[0]
	newPrice := p.PriceCents + 1
	if _, err := e.catalog.Update(t.Context(), p.ID, products.Patch{PriceCents: &newPrice}); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, e.svc.Run)
	e.copied(t, p.ID, newPrice)
}

func TestTheCopyKeepsTheNewestVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	p := forSale(t, 1)[0]
	at := time.Now().UTC().Truncate(time.Microsecond)
	change := func(version, price int64) stream.Event {
		return events.ProductChanged{ProductID: p.ID, DisplayName: p.DisplayName, PriceCents: price, Active: true,
			Version: version, UpdatedOn: at}.Event(productKey)
	}
	// Out of order and twice, in one batch and across batches.
	servicetest.Publish(t, e.rdb, e.cfg.ProductsStream, change(5, 5000), change(3, 3000), change(5, 5000))
	servicetest.Publish(t, e.rdb, e.cfg.ProductsStream, change(4, 4000))
	e.start(t)
	testenv.WaitFor(t, waitLong, "the products stream handled", func() bool {
		return testenv.Handled(t.Context(), e.rdb, orders.Group, e.cfg.ProductsStream)
	})
	// The snapshot (version 1) came too, and changed nothing either.
	testenv.WaitFor(t, waitLong, "the snapshot loaded", func() bool { return e.copySize(t) == products.SampleSize })
	if got, v, _ := e.copiedPrice(t, p.ID); got != 5000 || v != 5 {
		t.Errorf("copy = %d v%d, want 5000 v5", got, v)
	}
	servicetest.WantNoDeadLetters(t, e.rdb, e.cfg.ProductsStream)
}

func TestAForgedPriceChangeIsDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	p := forSale(t, 1)[0]
	e.mustCreate(t, "u-1", cart(1, p)) // the copy has the product, version 1
	other, err := events.NewProductKey([]byte("another secret of at least 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	forged := events.ProductChanged{ProductID: p.ID, DisplayName: p.DisplayName, PriceCents: 1, Active: true,
		Version: 99, UpdatedOn: time.Now()}
	unsigned := forged.Event(other)
	delete(unsigned.Fields, events.FieldSignature)
	tampered := forged.Event(productKey)
	tampered.Fields["priceCents"] = "2"
	servicetest.Publish(t, e.rdb, e.cfg.ProductsStream, forged.Event(other), unsigned, tampered)
	e.start(t)

	testenv.WaitFor(t, waitLong, "the forgeries dead-lettered", func() bool {
		return len(servicetest.DeadLetters(t, e.rdb, e.cfg.ProductsStream)) == 3
	})
	for _, dl := range servicetest.DeadLetters(t, e.rdb, e.cfg.ProductsStream) {
		if !strings.Contains(dl.Error, "signature") {
			t.Errorf("dead letter %s: error %q, want it to name the signature", dl.OriginID, dl.Error)
		}
	}
	if got, v, _ := e.copiedPrice(t, p.ID); got != p.PriceCents || v != 1 {
		t.Errorf("copy after the forgeries = %d v%d, want %d v1", got, v, p.PriceCents)
	}
	if r := e.create(t, "u-2", "", orders.CreateRequest{Items: []orders.ItemRequest{{ProductID: p.ID, Qty: 1, PriceCents: price(1)}}}); r.status != http.StatusConflict {
		t.Errorf("POST /orders at the forged price = %d %s, want 409", r.status, r.body)
	}
}

func TestPriceCopyLagIsTheAgeOfTheOldestChangeNotApplied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	if lag, err := e.svc.PriceCopyLag(ctx); err != nil || lag != 0 {
		t.Errorf("PriceCopyLag of an empty stream = %v, %v; want 0", lag, err)
	}
	p := forSale(t, 1)[0]
	old := events.ProductChanged{ProductID: p.ID, DisplayName: p.DisplayName, PriceCents: 777, Active: true,
		Version: 2, UpdatedOn: time.Now()}.Event(productKey)
	e.publishAt(t, old, time.Now().Add(-time.Minute))
	lag, err := e.svc.PriceCopyLag(ctx)
	if err != nil || lag < time.Minute || lag > 10*time.Minute {
		t.Errorf("PriceCopyLag with a change of a minute ago unread = %v, %v; want about a minute", lag, err)
	}
	e.start(t)
	testenv.WaitFor(t, waitLong, "the lag back to 0", func() bool {
		lag, err := e.svc.PriceCopyLag(ctx)
		return err == nil && lag == 0
	})
	e.copied(t, p.ID, 777)
}

// publishAt appends ev to the products stream with an entry id of time at,
// as if it had been appended then.
func (e *env) publishAt(t *testing.T, ev stream.Event, at time.Time) {
	t.Helper()
	scratch := testenv.Name(t, "scratch")
	id := servicetest.Publish(t, e.rdb, scratch, ev)[0]
	entries, err := e.rdb.XRange(t.Context(), scratch, id, id).Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("read back %s: %v, %v", id, entries, err)
	}
	err = e.rdb.XAdd(t.Context(), &redis.XAddArgs{
		Stream: e.cfg.ProductsStream, ID: fmt.Sprintf("%d-0", at.UnixMilli()), Values: entries[0].Values,
	}).Err()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEveryReplicaPricesFromTheNewestCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *orders.Config) { cfg.PriceRefresh = 50 * time.Millisecond })
	e.start(t)
	other := e.newService(t)
	testenv.Run(t, other.Run)
	e.fullCopy(t)
	p := forSale(t, 1)[0]
	// Both replicas have the product in memory at its first price.
	for _, svc := range []*orders.Service{e.svc, other} {
		if o, _, err := svc.Create(t.Context(), identity("u-1"), cart(1, p), ""); err != nil || o.AmountCents != p.PriceCents {
			t.Fatalf("Create = %d, %v; want %d", o.AmountCents, err, p.PriceCents)
		}
	}
	newPrice := p.PriceCents + 10
	if _, err := e.catalog.Update(t.Context(), p.ID, products.Patch{PriceCents: &newPrice}); err != nil {
		t.Fatal(err)
	}
	e.copied(t, p.ID, newPrice)
	// One replica's consumer copied the change; the other reads it from
	// the table into its memory. An order without a price the shopper saw
	// takes what the memory has.
	for i, svc := range []*orders.Service{e.svc, other} {
		testenv.WaitFor(t, waitLong, "the replica prices at the new price", func() bool {
			o, _, err := svc.Create(t.Context(), identity("u-2"), cart(1, p), "")
			return err == nil && o.AmountCents == newPrice
		})
		t.Logf("replica %d prices at the new price", i+1)
	}
}
