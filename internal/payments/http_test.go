package payments_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"streamcart/internal/ordercheck"
	"streamcart/internal/payments"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
)

// signer signs the identities of the tests' requests.
var signer = func() *auth.Signer {
	s, err := auth.NewSigner([]byte("payments-test-secret-payments-test-secret"), time.Hour)
	if err != nil {
		panic(err)
	}
	return s
}()

// shopper and operator are identities to call the API with.
func shopper(userID string) *auth.Identity {
	return &auth.Identity{Role: auth.RoleShopper, UserID: userID, SessionID: "s-" + userID}
}

var operator = &auth.Identity{Role: auth.RoleOperator, UserID: "ops-test"}

// get requests path from srv as id (nil: with no identity) and decodes the
// JSON body into v.
func get(t *testing.T, srv *httptest.Server, path string, id *auth.Identity, v any) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if id != nil {
		req.Header.Set(auth.Header, signer.Sign(*id))
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("GET %s: Content-Type %q, want JSON", path, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode body: %v", path, err)
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
		p, err = svc.Get(t.Context(), "o-1")
		if err != nil && !errors.Is(err, payments.ErrNotFound) {
			t.Fatalf("Get(o-1): %v", err)
		}
		return err == nil
	})
	srv := httptest.NewServer(payments.NewHandler(svc, signer, testenv.Logger(t)))
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
	t.Run("another shopper's payment is not found", func(t *testing.T) {
		var got web.ErrorBody
		resp := get(t, srv, "/payments/o-1", shopper("mallory"), &got)
		if resp.StatusCode != http.StatusNotFound || got.Error.Code != "not_found" || got.Error.Message != "no payment for this order" {
			t.Errorf("GET /payments/o-1 as another shopper: status %d, %+v; want 404 as for an order without payment", resp.StatusCode, got.Error)
		}
	})
	t.Run("no identity", func(t *testing.T) {
		var got web.ErrorBody
		resp := get(t, srv, "/payments/o-1", nil, &got)
		if resp.StatusCode != http.StatusUnauthorized || got.Error.Code != "unauthenticated" {
			t.Errorf("GET /payments/o-1 with no identity: status %d, code %q; want 401 unauthenticated", resp.StatusCode, got.Error.Code)
		}
	})
	t.Run("no payment", func(t *testing.T) {
		var got web.ErrorBody
		resp := get(t, srv, "/payments/o-unknown", operator, &got)
		want := web.ErrorBody{Error: web.ErrorDetail{Code: "not_found", Message: "no payment for this order"}}
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /payments/o-unknown: status %d, want 404", resp.StatusCode)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET /payments/o-unknown body (-want +got):\n%s", diff)
		}
	})
	t.Run("malformed order id", func(t *testing.T) {
		var got web.ErrorBody
		resp := get(t, srv, "/payments/o%201", operator, &got)
		if resp.StatusCode != http.StatusNotFound || got.Error.Code != "not_found" {
			t.Errorf("GET /payments/o%%201: status %d, code %q; want 404 not_found", resp.StatusCode, got.Error.Code)
		}
	})
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String() // nothing listens once closed
	ln.Close()
	pool, err := pgxpool.New(t.Context(), "postgres://nobody@"+dead+"/nothing?connect_timeout=10")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	svc, err := payments.NewService(pool, testenv.Redis(t), payments.Config{OrderKey: orderKey, Orders: &ordercheck.Known{}}, testenv.Logger(t)) // never run
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(payments.NewHandler(svc, signer, testenv.Logger(t)))
	t.Cleanup(srv.Close)
	var got web.ErrorBody
	resp := get(t, srv, "/payments/o-1", operator, &got)
	if resp.StatusCode != http.StatusServiceUnavailable || got.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("GET /payments/o-1 with Postgres down: status %d, code %q, Retry-After %q; want 503 unavailable with Retry-After",
			resp.StatusCode, got.Error.Code, resp.Header.Get("Retry-After"))
	}
}
