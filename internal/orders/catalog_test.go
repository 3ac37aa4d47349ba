package orders

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
)

// TestCatalogAnswersKeepTheirKind reads the products service's answers to
// a lookup: a catalog that is down, busy or slow makes the order
// unavailable for now (503, to be retried); any other error, or an answer
// that is no list of products, is the catalog's failure (502).
func TestCatalogAnswersKeepTheirKind(t *testing.T) {
	t.Parallel()
	errorAnswer := func(status int, code string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			web.WriteJSON(w, status, web.ErrorBody{Error: web.ErrorDetail{Code: code, Message: "from the catalog"}})
		}
	}
	tests := []struct {
		name       string
		answer     http.HandlerFunc
		wantStatus int
		wantCode   string
	}{
		{"catalog unavailable", errorAnswer(http.StatusServiceUnavailable, "unavailable"), http.StatusServiceUnavailable, "unavailable"},
		{"catalog rate limited", errorAnswer(http.StatusTooManyRequests, "rate_limited"), http.StatusServiceUnavailable, "unavailable"},
		{"catalog timed out", errorAnswer(http.StatusGatewayTimeout, "timeout"), http.StatusServiceUnavailable, "unavailable"},
		{"catalog refuses the request", errorAnswer(http.StatusBadRequest, "invalid_request"), http.StatusBadGateway, "catalog_failed"},
		{"catalog fault", errorAnswer(http.StatusInternalServerError, "internal"), http.StatusBadGateway, "catalog_failed"},
		{"error without a body", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, http.StatusServiceUnavailable, "unavailable"},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>") }, http.StatusBadGateway, "catalog_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.answer)
			t.Cleanup(srv.Close)
			_, err := newCatalog(srv.URL, testSigner).lookup(t.Context(), []string{"p-1"})
			status, detail := web.Describe(err)
			if status != tt.wantStatus || detail.Code != tt.wantCode || strings.Contains(detail.Message, "from the catalog") {
				t.Errorf("lookup answered %s: error %v, seen by clients as %d %+v; want %d %s in orders' own words",
					tt.name, err, status, detail, tt.wantStatus, tt.wantCode)
			}
		})
	}

	t.Run("catalog down", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close() // nothing listens at its address any more
		_, err := newCatalog(srv.URL, testSigner).lookup(t.Context(), []string{"p-1"})
		if status, detail := web.Describe(err); status != http.StatusServiceUnavailable || detail.Code != "unavailable" {
			t.Errorf("lookup with the catalog down: error %v, seen by clients as %d %+v; want 503 unavailable", err, status, detail)
		}
	})
}

// testSigner signs the identities of the tests' catalog calls.
var testSigner = servicetest.Signer()

func TestCatalogLookupCarriesTheOrdersServiceIdentity(t *testing.T) {
	t.Parallel()
	ids := make(chan auth.Identity, 1)
	srv := httptest.NewServer(testSigner.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids <- auth.MustFromContext(r.Context())
		web.WriteJSON(w, http.StatusOK, map[string][]product{"products": {}})
	})))
	t.Cleanup(srv.Close)
	if _, err := newCatalog(srv.URL, testSigner).lookup(t.Context(), []string{"p-1"}); err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if got := <-ids; got.Role != auth.RoleService || got.UserID != "orders" {
		t.Errorf("the catalog saw %+v, want the orders service's identity", got)
	}
}

func TestCatalogLookupKeepsOnlyProductsForSale(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.WriteJSON(w, http.StatusOK, map[string][]product{"products": {
			{ID: "p-1", DisplayName: "Lamp", PriceCents: 3999, Active: true},
			{ID: "p-2", DisplayName: "Retired", PriceCents: 1000, Active: false},
			{ID: "p-3", DisplayName: "Unpriced", PriceCents: 0, Active: true},
		}})
	}))
	t.Cleanup(srv.Close)
	got, err := newCatalog(srv.URL, testSigner).lookup(t.Context(), []string{"p-1", "p-2", "p-3", "p-4"})
	want := map[string]product{"p-1": {ID: "p-1", DisplayName: "Lamp", PriceCents: 3999, Active: true}}
	if err != nil || !cmp.Equal(want, got, cmp.AllowUnexported(product{})) {
		t.Errorf("lookup = %v, %v; want only %v", got, err, want)
	}
}
