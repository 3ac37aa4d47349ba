package products_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/products"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

// changes returns the ProductChanged events on f's stream, in order,
// verified with the test key.
func (f *fixture) changes(t *testing.T) []events.ProductChanged {
	t.Helper()
	var out []events.ProductChanged
	for _, m := range testenv.Entries(t, f.rdb, f.stream, stream.Decode) {
		e, err := events.ParseProductChanged(m, servicetest.ProductKey())
		if err != nil {
			t.Fatalf("entry %s: %v", m.EntryID, err)
		}
		out = append(out, e)
	}
	return out
}

// outboxRows returns how many events wait in the products outbox.
func (f *fixture) outboxRows(t *testing.T) int { return testenv.Rows(t, f.pool, "products.outbox") }

func TestEveryCatalogChangeIsAnnouncedOnTheProductsStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	// The seeding wrote an event per product, in its transaction.
	if n := f.outboxRows(t); n != products.SampleSize {
		t.Fatalf("outbox rows after seeding = %d, want %d", n, products.SampleSize)
	}
	testenv.Run(t, f.svc.Run)
	testenv.WaitFor(t, 20*time.Second, "the seeding relayed", func() bool { return f.outboxRows(t) == 0 })
	seeded := f.changes(t)
	if len(seeded) != products.SampleSize {
		t.Fatalf("%d events on the stream after seeding, want %d", len(seeded), products.SampleSize)
	}
	first := products.SampleCatalog()[0]
	if e := seeded[0]; e.ProductID != first.ID || e.PriceCents != first.PriceCents || e.Version != 1 || !e.Active || e.DisplayName != first.DisplayName {
		t.Errorf("first seeded event = %+v, want %s at %d, version 1, active", e, first.ID, first.PriceCents)
	}

	price, inactive, name := int64(1234), false, "Renamed Cap"
	for _, p := range []products.Patch{{PriceCents: &price}, {Active: &inactive}, {DisplayName: &name}} {
		if _, err := f.svc.Update(t.Context(), first.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 20*time.Second, "the updates relayed", func() bool {
		return len(f.changes(t)) == products.SampleSize+3
	})
	updates := f.changes(t)[products.SampleSize:]
	want := []events.ProductChanged{
		{ProductID: first.ID, DisplayName: first.DisplayName, PriceCents: 1234, Active: true, Version: 2},
		{ProductID: first.ID, DisplayName: first.DisplayName, PriceCents: 1234, Active: false, Version: 3},
		{ProductID: first.ID, DisplayName: name, PriceCents: 1234, Active: false, Version: 4},
	}
	for i, e := range updates {
		got := e
		got.UpdatedOn = time.Time{}
		if got != want[i] {
			t.Errorf("update %d announced %+v, want %+v", i+1, got, want[i])
		}
	}
	stored, err := f.svc.Get(t.Context(), first.ID)
	if err != nil || !stored.UpdatedAt.Equal(updates[2].UpdatedOn) {
		t.Errorf("the last event's time %v is not the product's %v (%v)", updates[2].UpdatedOn, stored.UpdatedAt, err)
	}
}

func TestAFailedUpdateAnnouncesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	before := f.outboxRows(t)
	price := int64(100)
	if _, err := f.svc.Update(t.Context(), "p-99999", products.Patch{PriceCents: &price}); err == nil {
		t.Fatal("Update of an unknown product succeeded")
	}
	if n := f.outboxRows(t); n != before {
		t.Errorf("outbox rows after a failed update = %d, want %d", n, before)
	}
}

func TestSnapshotPagesTheWholeCatalogToServices(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, true)
	srv := newServer(t, f)
	inactive := false
	if _, err := f.svc.Update(t.Context(), "p-00002", products.Patch{Active: &inactive}); err != nil {
		t.Fatal(err)
	}
	service := servicetest.As(auth.Identity{Role: auth.RoleService, UserID: "orders"})
	var all []products.Versioned
	pages := 0
	for after := ""; ; pages++ {
		resp, body := testenv.Do(t, srv.Client(), testenv.Request{
			Method: http.MethodGet, URL: srv.URL + "/snapshot?limit=120&after=" + after, Header: service,
		})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /snapshot after %q = %d %s", after, resp.StatusCode, body)
		}
		var page products.SnapshotPage
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Products...)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if len(all) != products.SampleSize || pages != 2 {
		t.Fatalf("snapshot = %d products in %d pages, want %d in 3", len(all), pages+1, products.SampleSize)
	}
	for i, p := range all {
		switch {
		case i > 0 && all[i-1].ID >= p.ID:
			t.Errorf("snapshot not in id order: %s after %s", p.ID, all[i-1].ID)
		case p.ID == "p-00002" && (p.Active || p.Version != 2):
			t.Errorf("delisted p-00002 in the snapshot = active %v, version %d; want inactive, version 2", p.Active, p.Version)
		case p.ID != "p-00002" && p.Version != 1:
			t.Errorf("%s version %d, want 1", p.ID, p.Version)
		}
	}
	// Shoppers and anonymous readers may not take the whole catalog.
	for _, caller := range []auth.Identity{{Role: auth.RoleShopper, UserID: "u-1", SessionID: "s-1"}, {Role: auth.RoleReader}} {
		resp, body := testenv.Do(t, srv.Client(), testenv.Request{
			Method: http.MethodGet, URL: srv.URL + "/snapshot", Header: servicetest.As(caller),
		})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET /snapshot as %s = %d %s, want 403", caller.Role, resp.StatusCode, body)
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "after=p%201"} {
		resp, body := testenv.Do(t, srv.Client(), testenv.Request{Method: http.MethodGet, URL: srv.URL + "/snapshot?" + q, Header: service})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /snapshot?%s = %d %s, want 400", q, resp.StatusCode, body)
		}
	}
}
