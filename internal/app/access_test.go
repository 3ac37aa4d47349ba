package app_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
	s.wantRefused("PATCH without a credential", "PATCH", url, "", patch, 401, "unauthenticated")
	s.wantRefused("PATCH as a shopper", "PATCH", url, "mallory", patch, 403, "forbidden")
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
	s.wantRefused("GET without a credential", "GET", url, "", nil, 401, "unauthenticated")
	s.wantRefused("GET as another shopper", "GET", url, "mallory", nil, 404, "not_found")
	pay.UserID = ""
	if code := s.call("GET", url, "", nil, &pay, s.credential(auth.Identity{Role: auth.RoleOperator, UserID: "ops-alice"})...); code != 200 || pay.UserID != "alice" {
		t.Errorf("GET as an operator: %d %+v, want 200 with alice's payment", code, pay)
	}
}

// routeAccess is who may call each route of each service. It must list
// exactly the routes the services register (app.System.Routes), with the
// same access: a route added to a service without an entry here fails
// TestEveryRouteOfEveryServiceChecksItsCaller, as does an entry here for
// a route that is gone.
var routeAccess = map[string]map[string]auth.Access{
	app.Products: {
		"GET /healthz":                 auth.Open,
		"GET /readyz":                  auth.Open,
		"GET /metrics":                 auth.Open,
		"GET /products":                auth.AnyCaller,
		"GET /products/{id}":           auth.AnyCaller,
		"GET /products/{id}/image.svg": auth.AnyCaller,
		"POST /products/lookup":        auth.AnyCaller,
		"PATCH /products/{id}":         auth.Operator,
		"GET /categories":              auth.AnyCaller,
		"GET /snapshot":                auth.ServiceOrOperator,
	},
	app.Payments: {
		"GET /healthz":            auth.Open,
		"GET /readyz":             auth.Open,
		"GET /metrics":            auth.Open,
		"GET /payments/{orderId}": auth.ShopperOrOperator,
	},
	app.Orders: {
		"GET /healthz":     auth.Open,
		"GET /readyz":      auth.Open,
		"GET /metrics":     auth.Open,
		"POST /orders":     auth.Shopper,
		"GET /orders":      auth.Shopper,
		"GET /orders/{id}": auth.Shopper,
		// The order history asks for snapshots to rebuild itself.
		"POST /orders/snapshots": auth.ServiceOrOperator,
		// payments, identity and the order history ask whether the
		// orders of their OrderPlaced events exist.
		"POST /orders/lookup": auth.ServiceOrOperator,
		// The operations page asks for an order's journey.
		"GET /orders/{id}/journey": auth.Operator,
	},
	app.History: {
		"GET /healthz":           auth.Open,
		"GET /readyz":            auth.Open,
		"GET /metrics":           auth.Open,
		"GET /history":           auth.Shopper,
		"GET /history/{orderId}": auth.Shopper,
		// The operations page asks for an order's journey.
		"GET /history/{orderId}/journey": auth.Operator,
	},
	app.Identity: {
		"GET /healthz":          auth.Open,
		"GET /readyz":           auth.Open,
		"GET /metrics":          auth.Open,
		"GET /identities":       auth.Shopper,
		"GET /scores/{orderId}": auth.Shopper,
	},
}

func TestEveryRouteOfEveryServiceChecksItsCaller(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{})

	// The table and what the services register, compared both ways.
	for _, name := range app.Services {
		if _, ok := s.sys.Routes[name]; !ok && name != app.Gateway {
			t.Errorf("service %s has no route table in System.Routes", name)
		}
	}
	registered := map[string]map[string]auth.Access{}
	for name, routes := range s.sys.Routes {
		registered[name] = map[string]auth.Access{}
		for _, r := range routes {
			registered[name][r.Pattern] = r.Access
		}
	}
	if diff := cmp.Diff(routeAccess, registered); diff != "" {
		t.Errorf("the services' routes differ from routeAccess (-routeAccess +registered): add or correct the entry:\n%s", diff)
	}

	other, err := auth.NewSigner([]byte("another-secret-another-secret-another"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	type caller struct {
		name   string
		header string    // auth.Header's value; "" for none
		role   auth.Role // "" for a caller with no valid identity
	}
	callers := []caller{
		{"no credential", "", ""},
		{"garbage", "not-an-identity", ""},
		{"another secret", other.Sign(auth.Identity{Role: auth.RoleOperator, UserID: "ops"}), ""},
		{"expired", s.signer.SignFor(auth.Identity{Role: auth.RoleOperator, UserID: "ops"}, -time.Minute), ""},
	}
	for _, id := range []auth.Identity{
		{Role: auth.RoleReader},
		{Role: auth.RoleShopper, UserID: "alice", SessionID: "s-alice"},
		{Role: auth.RoleService, UserID: "orders"},
		{Role: auth.RoleOperator, UserID: "ops-alice"},
	} {
		callers = append(callers, caller{string(id.Role), s.signer.Sign(id), id.Role})
	}

	for name, routes := range s.sys.Routes {
		for _, r := range routes {
			method, path, _ := strings.Cut(r.Pattern, " ")
			url := s.sys.URLs[name] + pathParams.ReplaceAllString(path, "x-1")
			var body any
			if method == "POST" || method == "PATCH" {
				body = map[string]any{}
			}
			for _, c := range callers {
				var e apiError
				var out any = &e
				if r.Access == auth.Open {
					out = nil // GET /metrics is not JSON
				}
				code := s.call(method, url, "", body, out, auth.Header, c.header)
				var want string
				switch {
				case r.Access == auth.Open:
					want = "served"
				case c.role == "":
					want = "401 unauthenticated"
				case !r.Access.Allows(c.role):
					want = "403 forbidden"
				default:
					want = "served"
				}
				got := "served"
				if code == 401 || code == 403 {
					got = fmt.Sprintf("%d %s", code, e.Error.Code)
				}
				if got != want {
					t.Errorf("%s %s (%s) as %s: %d %q, want %s", name, r.Pattern, r.Access, c.name, code, e.Error.Code, want)
				}
			}
		}
	}
}

// pathParams matches the wildcards of a route pattern.
var pathParams = regexp.MustCompile(`\{[^}]*\}`)
