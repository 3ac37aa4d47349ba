package payments_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/ordercheck"
	"streamcart/internal/payments"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
)

// shopper and operator are identities to call the API with.
func shopper(userID string) *auth.Identity {
	return &auth.Identity{Role: auth.RoleShopper, UserID: userID, SessionID: "s-" + userID}
}

var operator = &auth.Identity{Role: auth.RoleOperator, UserID: "ops-test"}

// get requests path from srv as caller (nil: with no identity) and decodes
// the JSON body into v.
func get(t *testing.T, srv *httptest.Server, path string, caller *auth.Identity, v any) *http.Response {
	t.Helper()
	var header http.Header
	if caller != nil {
		header = servicetest.As(*caller)
	}
	resp, body := testenv.Do(t, srv.Client(), testenv.Request{Method: http.MethodGet, URL: srv.URL + path, Header: header})
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("GET %s: Content-Type %q, want JSON", path, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: decode body %s: %v", path, body, err)
	}
	return resp
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Pool(t))
	svc := e.start(t)
	e.publish(t, order("o-1", 150_000).Event(orderKey))
	var p payments.Payment
	testenv.WaitFor(t, 10*time.Second, "the order paid", func() bool {
		var err error
		p, err = svc.Get(t.Context(), *operator, "o-1")
		if err != nil && !errors.Is(err, payments.ErrNotFound) {
			t.Fatalf("Get(o-1): %v", err)
		}
		return err == nil
	})
	srv := httptest.NewServer(payments.NewHandler(svc, servicetest.Signer()))
	t.Cleanup(srv.Close)

	want := testenv.JSON(t, map[string]any{
		"paymentId": p.ID, "orderId": "o-1", "userId": "u-o-1", "amountCents": 150_000,
		"status": -4, "statusName": "PAYMENT_FAIL", "reason": limitReason, "createdAt": p.CreatedAt,
	})
	t.Run("payment, to its shopper and to an operator", func(t *testing.T) {
		for _, id := range []*auth.Identity{shopper("u-o-1"), operator} {
			var got any
			resp := get(t, srv, "/payments/o-1", id, &got)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /payments/o-1 as %s: status %d, want 200", id.Role, resp.StatusCode)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("GET /payments/o-1 as %s: body (-want +got):\n%s", id.Role, diff)
			}
			if resp.Header.Get(web.RequestIDHeader) == "" {
				t.Errorf("GET /payments/o-1: no %s header", web.RequestIDHeader)
			}
		}
	})
	notFound := web.ErrorDetail{Code: "not_found", Message: "no payment for this order"}
	for _, tt := range []struct {
		name, path string
		caller     *auth.Identity // nil sends no identity
		wantStatus int
		want       web.ErrorDetail // a Message of "" is not checked
	}{
		{"another shopper's payment is not found", "/payments/o-1", shopper("mallory"), http.StatusNotFound, notFound},
		{"no identity", "/payments/o-1", nil, http.StatusUnauthorized, web.ErrorDetail{Code: "unauthenticated"}},
		{"no payment", "/payments/o-unknown", operator, http.StatusNotFound, notFound},
		{"malformed order id", "/payments/o%201", operator, http.StatusNotFound, web.ErrorDetail{Code: "not_found"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got web.ErrorBody
			resp := get(t, srv, tt.path, tt.caller, &got)
			if tt.want.Message == "" {
				got.Error.Message = ""
			}
			if resp.StatusCode != tt.wantStatus || got.Error != tt.want {
				t.Errorf("GET %s: status %d, %+v; want %d, %+v", tt.path, resp.StatusCode, got.Error, tt.wantStatus, tt.want)
			}
		})
	}
	t.Run("health", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			var got map[string]any
			if resp := get(t, srv, path, nil, &got); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: status %d %v, want 200", path, resp.StatusCode, got)
			}
		}
	})
}

func TestHTTPPostgresOutageIsUnavailable(t *testing.T) {
	t.Parallel()
	svc, err := payments.NewService(testenv.DeadPool(t), testenv.Redis(t), payments.Config{OrderKey: orderKey, Orders: &ordercheck.Known{}}, testenv.Logger(t)) // never run
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(payments.NewHandler(svc, servicetest.Signer()))
	t.Cleanup(srv.Close)
	var got web.ErrorBody
	resp := get(t, srv, "/payments/o-1", operator, &got)
	if resp.StatusCode != http.StatusServiceUnavailable || got.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("GET /payments/o-1 with Postgres down: status %d, code %q, Retry-After %q; want 503 unavailable with Retry-After",
			resp.StatusCode, got.Error.Code, resp.Header.Get("Retry-After"))
	}
}
