package orders_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/ordercheck"
	"streamcart/internal/platform/auth"
)

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
