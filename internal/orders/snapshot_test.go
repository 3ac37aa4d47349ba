package orders_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/events"
	"streamcart/internal/orders"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// snapshotsAs posts a snapshot request for the page after `after` of at
// most limit orders, with the credential of id (none when its Role is
// empty), and returns the status and the answer.
func (e *env) snapshotsAs(t *testing.T, id auth.Identity, after string, limit int) (int, events.SnapshotPage) {
	t.Helper()
	status, raw := e.postAs(t, id, "/orders/snapshots", map[string]any{"after": after, "limit": limit})
	var page events.SnapshotPage
	if status == http.StatusOK {
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatalf("snapshot answer %s: %v", raw, err)
		}
	}
	return status, page
}

// postAs posts body as JSON to path with the credential of id (none when
// its Role is empty), and returns the status and the answer's body.
func (e *env) postAs(t *testing.T, id auth.Identity, path string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if id.Role != "" {
		req.Header.Set(auth.Header, e.signer.Sign(id))
	}
	resp, err := e.api.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// historyService is the identity the order history calls orders with.
var historyService = auth.Identity{Role: auth.RoleService, UserID: "orderhistory"}

// TestSnapshotsRepublishEveryOrderWithItsCurrentStatusSigned has orders
// publish, page by page, a snapshot of each of its orders, paid, declined
// and unpaid: each page's entries are on the snapshots stream between the
// ids the answer gives, signed, and say what PostgreSQL says of the order.
func TestSnapshotsRepublishEveryOrderWithItsCurrentStatusSigned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *orders.Config) { c.SnapshotsStream = testenv.Name(t, "snapshots") })
	paid, declined := e.paidAndDeclined(t)
	ps := forSale(t, 3)
	unpaid := e.mustCreate(t, "u-2", cart(2, ps[2], ps[0]))
	want := map[string]orders.Order{}
	for _, o := range []orders.Order{paid, declined, unpaid} {
		want[o.ID] = e.get(t, o.UserID, o.ID)
	}

	got := map[string]events.OrderSnapshot{}
	pages := 0
	for after := ""; ; pages++ {
		code, page := e.snapshotsAs(t, historyService, after, 2)
		if code != http.StatusOK {
			t.Fatalf("snapshots after %q: status %d", after, code)
		}
		if page.Stream != e.cfg.SnapshotsStream || page.Orders > 2 {
			t.Fatalf("page after %q: %+v, want at most 2 orders on %s", after, page, e.cfg.SnapshotsStream)
		}
		if page.Orders > 0 {
			entries, err := e.rdb.XRange(t.Context(), page.Stream, page.FirstEntryID, page.LastEntryID).Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != page.Orders {
				t.Fatalf("page %+v: %d entries between its ids", page, len(entries))
			}
			for _, xm := range entries {
				m, err := stream.Decode(page.Stream, xm)
				if err != nil {
					t.Fatal(err)
				}
				s, err := events.ParseOrderSnapshot(m, orderKey)
				if err != nil {
					t.Fatalf("snapshot entry %s: %v", xm.ID, err)
				}
				got[s.OrderID] = s
			}
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if pages < 1 || len(got) != len(want) {
		t.Fatalf("%d snapshots in %d pages, want %d orders", len(got), pages+1, len(want))
	}
	for id, o := range want {
		items := make([]events.LineItem, len(o.Items))
		for i, it := range o.Items {
			items[i] = events.LineItem{ProductID: it.ProductID, Qty: it.Qty, PriceCents: it.PriceCents}
		}
		w := events.OrderSnapshot{
			Order:  events.Order{OrderID: o.ID, UserID: o.UserID, AmountCents: o.AmountCents, Items: items, CreatedOn: o.CreatedAt},
			Status: o.Status, PaymentID: o.PaymentID, UpdatedOn: o.UpdatedAt, UpdatedBy: o.UpdatedBy,
		}
		if diff := cmp.Diff(w, got[id]); diff != "" {
			t.Errorf("snapshot of order %s (-want +got):\n%s", id, diff)
		}
	}
}

// TestOnlyAServiceOrAnOperatorMayAskForSnapshots: a shopper may not make
// orders publish every order (403), nor may a caller without a credential
// (401); both publish nothing.
func TestOnlyAServiceOrAnOperatorMayAskForSnapshots(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *orders.Config) { c.SnapshotsStream = testenv.Name(t, "snapshots") })
	e.mustCreate(t, "u-1", cart(1, forSale(t, 1)...))
	if code, _ := e.snapshotsAs(t, identity("u-1"), "", 10); code != http.StatusForbidden {
		t.Errorf("as a shopper: status %d, want 403", code)
	}
	if code, _ := e.snapshotsAs(t, auth.Identity{}, "", 10); code != http.StatusUnauthorized {
		t.Errorf("without a credential: status %d, want 401", code)
	}
	if n := e.rdb.XLen(t.Context(), e.cfg.SnapshotsStream).Val(); n != 0 {
		t.Errorf("the snapshots stream has %d entries after refused requests", n)
	}
	for _, id := range []auth.Identity{historyService, {Role: auth.RoleOperator, UserID: "ops-alice"}} {
		if code, page := e.snapshotsAs(t, id, "", 10); code != http.StatusOK || page.Orders != 1 {
			t.Errorf("as a %s: status %d, %+v, want 200 with one order", id.Role, code, page)
		}
	}
	for _, limit := range []int{-1, orders.MaxSnapshotPage + 1} {
		if code, _ := e.snapshotsAs(t, historyService, "", limit); code != http.StatusBadRequest {
			t.Errorf("limit %d: status %d, want 400", limit, code)
		}
	}
}
