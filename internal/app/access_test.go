package app_test

import (
	"testing"
	"time"

	"streamcart/internal/app"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
)

// credential is what a direct caller of a service sends: the value of
// auth.Header, or nothing.
func (s *shop) credential(id auth.Identity) []string {
	return []string{auth.Header, s.signer.Sign(id)}
}

func TestCatalogWritesNeedAnOperator(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{})
	p := s.catalog(1)[0]
	url := s.sys.URLs[app.Products] + "/products/" + p.ID
	patch := map[string]any{"priceCents": 1}
	var e apiError
	if code := s.call("PATCH", url, "", patch, &e); code != 401 || e.Error.Code != "unauthenticated" {
		t.Errorf("PATCH without a credential: %d %q, want 401 unauthenticated", code, e.Error.Code)
	}
	e = apiError{}
	if code := s.call("PATCH", url, "mallory", patch, &e); code != 403 || e.Error.Code != "forbidden" {
		t.Errorf("PATCH as a shopper: %d %q, want 403 forbidden", code, e.Error.Code)
	}
	if got := s.catalog(1)[0]; got.PriceCents != p.PriceCents {
		t.Fatalf("the price is %d after refused writes, want %d", got.PriceCents, p.PriceCents)
	}
	var changed product
	if code := s.call("PATCH", url, "", map[string]any{"priceCents": p.PriceCents + 100}, &changed,
		s.credential(auth.Identity{Role: auth.RoleOperator, UserID: "ops-alice"})...); code != 200 || changed.PriceCents != p.PriceCents+100 {
		t.Errorf("PATCH as an operator: %d %+v, want 200 with price %d", code, changed, p.PriceCents+100)
	}
}

func TestPaymentIsShownOnlyToItsShopperAndToOperators(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{})
	p := s.catalog(1)[0]
	o := s.placeOrder("alice", item{ProductID: p.ID, Qty: 1})
	url := s.sys.URLs[app.Payments] + "/payments/" + o.OrderID
	var pay struct {
		OrderID     string `json:"orderId"`
		UserID      string `json:"userId"`
		AmountCents int64  `json:"amountCents"`
	}
	testenv.WaitFor(t, 30*time.Second, "the payment of "+o.OrderID, func() bool {
		return s.call("GET", url, "alice", nil, &pay) == 200
	})
	if pay.UserID != "alice" || pay.AmountCents != o.AmountCents {
		t.Errorf("alice's payment: %+v, want hers of %d", pay, o.AmountCents)
	}
	var e apiError
	if code := s.call("GET", url, "", nil, &e); code != 401 || e.Error.Code != "unauthenticated" {
		t.Errorf("GET without a credential: %d %q, want 401 unauthenticated", code, e.Error.Code)
	}
	e = apiError{}
	if code := s.call("GET", url, "mallory", nil, &e); code != 404 || e.Error.Code != "not_found" {
		t.Errorf("GET as another shopper: %d %q, want 404 not_found", code, e.Error.Code)
	}
	pay.UserID = ""
	if code := s.call("GET", url, "", nil, &pay, s.credential(auth.Identity{Role: auth.RoleOperator, UserID: "ops-alice"})...); code != 200 || pay.UserID != "alice" {
		t.Errorf("GET as an operator: %d %+v, want 200 with alice's payment", code, pay)
	}
}
