// The routes that other services call: POST /orders/snapshots, for the
// order history, and POST /orders/lookup, for the consumers of
// OrderPlaced. Both take a service's or an operator's identity only.

package orders_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
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
	h := http.Header{}
	if id.Role != "" {
		h.Set(auth.Header, e.signer.Sign(id))
	}
	resp, raw := testenv.Do(t, e.api.Client(), testenv.Request{Method: http.MethodPost, URL: e.api.URL + path, Body: body, Header: h})
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
		want[o.ID] = e.current(t, o)
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

// TestLookupTellsWhichIdsAreOrders asks, as the consumers of OrderPlaced
// do (ordercheck.Client), about two orders, one of them twice, and more
// ids that are no orders than one call takes: the answer has the two
// orders, each with its user and amount, and nothing else.
func TestLookupTellsWhichIdsAreOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ps := forSale(t, 2)
	a, b := e.mustCreate(t, "u-1", cart(1, ps[0])), e.mustCreate(t, "u-2", cart(2, ps[1]))
	client, err := ordercheck.NewClient(e.api.URL, e.signer, "payments")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{a.ID, "o-none", b.ID, a.ID}
	for i := range ordercheck.MaxIDs {
		ids = append(ids, fmt.Sprintf("o-none-%04d", i))
	}
	got, err := client.Lookup(t.Context(), ids)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ordercheck.Order{
		a.ID: {OrderID: a.ID, UserID: "u-1", AmountCents: a.AmountCents},
		b.ID: {OrderID: b.ID, UserID: "u-2", AmountCents: b.AmountCents},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Lookup (-want +got):\n%s", diff)
	}
}

// TestOnlyAServiceOrAnOperatorMayLookUpOrders: a shopper may not ask
// which ids are orders (403), nor may a caller without a credential
// (401); a service must send 1 to ordercheck.MaxIDs order ids (400).
func TestOnlyAServiceOrAnOperatorMayLookUpOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := e.mustCreate(t, "u-1", cart(1, forSale(t, 1)...))
	payments := auth.Identity{Role: auth.RoleService, UserID: "payments"}
	tooMany := make([]string, ordercheck.MaxIDs+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("o-%d", i)
	}
	tests := []struct {
		name string
		id   auth.Identity
		body any
		want int
	}{
		{"a shopper", identity("u-1"), map[string]any{"ids": []string{o.ID}}, http.StatusForbidden},
		{"no credential", auth.Identity{}, map[string]any{"ids": []string{o.ID}}, http.StatusUnauthorized},
		{"no ids", payments, map[string]any{"ids": []string{}}, http.StatusBadRequest},
		{"too many ids", payments, map[string]any{"ids": tooMany}, http.StatusBadRequest},
		{"not an id", payments, map[string]any{"ids": []string{o.ID, "o 1"}}, http.StatusBadRequest},
		{"an operator", auth.Identity{Role: auth.RoleOperator, UserID: "ops-alice"}, map[string]any{"ids": []string{o.ID}}, http.StatusOK},
		{"a service, with nothing found", payments, map[string]any{"ids": []string{"o-none"}}, http.StatusOK},
	}
	for _, tt := range tests {
		status, raw := e.postAs(t, tt.id, ordercheck.Path, tt.body)
		if status != tt.want {
			t.Errorf("%s: status %d (%s), want %d", tt.name, status, raw, tt.want)
		}
		if status == http.StatusBadRequest && !strings.Contains(string(raw), `"invalid_ids"`) {
			t.Errorf("%s: %s, want code invalid_ids", tt.name, raw)
		}
		if tt.name == "a service, with nothing found" && strings.TrimSpace(string(raw)) != `{"orders":[]}` {
			t.Errorf("%s: %s, want an empty list", tt.name, raw)
		}
	}
}
