package orderhistory_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/orderhistory"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
)

// api is the service's HTTP handler and the signer of the identities it
// trusts.
type api struct {
	handler http.Handler
	signer  *auth.Signer
}

func newAPI(t *testing.T, svc *orderhistory.Service) api {
	t.Helper()
	signer := servicetest.Signer()
	return api{handler: orderhistory.NewHandler(svc, signer), signer: signer}
}

// get serves GET path as userID ("" sends no identity).
func (a api) get(t *testing.T, path, userID string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
	if userID != "" {
		req.Header.Set(auth.Header, a.signer.Sign(auth.Identity{Role: auth.RoleShopper, UserID: userID, SessionID: "s"}))
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	return rec
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	e := running(t)
	a := newAPI(t, e.svc)

	alice, bob := testenv.Name(t, "alice"), testenv.Name(t, "bob")
	older := newOrder(alice+"-older", alice, base)
	newer := newOrder(alice+"-newer", alice, base.Add(time.Minute))
	e.publish(t, older.placed(), older.paid(), older.scored(), newer.placed())
	e.settle(t)
	newerRecord := newer.record()
	newerRecord.Status, newerRecord.StatusName, newerRecord.PaymentID = 1, "CREATED", ""
	newerRecord.LastUpdatedOn, newerRecord.LastUpdatedBy = newer.created, alice
	newerRecord.IdentityScore = nil

	tests := []struct {
		name       string
		path       string
		user       string // "" sends no identity
		wantStatus int
		wantCode   string                // error code, for errors
		wantOrders []orderhistory.Record // for lists
		wantRecord *orderhistory.Record  // for one order
	}{
		{name: "list without identity", path: "/history", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "order without identity", path: "/history/" + older.id, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "list", path: "/history", user: alice, wantStatus: 200, wantOrders: []orderhistory.Record{newerRecord, older.record()}},
		{name: "list with limit", path: "/history?limit=1", user: alice, wantStatus: 200, wantOrders: []orderhistory.Record{newerRecord}},
		{name: "list of another user", path: "/history?limit=100", user: bob, wantStatus: 200, wantOrders: []orderhistory.Record{}},
		{name: "limit 0", path: "/history?limit=0", user: alice, wantStatus: 400, wantCode: "invalid_limit"},
		{name: "limit 101", path: "/history?limit=101", user: alice, wantStatus: 400, wantCode: "invalid_limit"},
		{name: "limit not a number", path: "/history?limit=ten", user: alice, wantStatus: 400, wantCode: "invalid_limit"},
		{name: "order", path: "/history/" + older.id, user: alice, wantStatus: 200, wantRecord: ptr(older.record())},
		{name: "missing order", path: "/history/nope", user: alice, wantStatus: 404, wantCode: "not_found"},
		{name: "malformed order id", path: "/history/no%2Ape", user: alice, wantStatus: 404, wantCode: "not_found"},
		{name: "another user's order", path: "/history/" + older.id, user: bob, wantStatus: 404, wantCode: "not_found"},
		{name: "healthz", path: "/healthz", wantStatus: 200},
		{name: "readyz", path: "/readyz", wantStatus: 200},
	}
	for _, tt := range tests {
		resp := a.get(t, tt.path, tt.user)
		body := resp.Body.Bytes()
		if resp.Code != tt.wantStatus {
			t.Errorf("%s: GET %s: status %d, want %d; body %s", tt.name, tt.path, resp.Code, tt.wantStatus, body)
			continue
		}
		if ct := resp.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q, want JSON", tt.name, ct)
		}
		switch {
		case tt.wantCode != "":
			var eb struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != tt.wantCode {
				t.Errorf("%s: body %s, want error code %q", tt.name, body, tt.wantCode)
			}
		case tt.wantOrders != nil:
			var got struct{ Orders []orderhistory.Record }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v in %s", tt.name, err, body)
			}
			if got.Orders == nil {
				t.Errorf("%s: orders is %s, want a list", tt.name, body)
			}
			if diff := cmp.Diff(tt.wantOrders, got.Orders); diff != "" {
				t.Errorf("%s: orders (-want +got):\n%s", tt.name, diff)
			}
		case tt.wantRecord != nil:
			var got orderhistory.Record
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v in %s", tt.name, err, body)
			}
			if diff := cmp.Diff(*tt.wantRecord, got); diff != "" {
				t.Errorf("%s: record (-want +got):\n%s", tt.name, diff)
			}
		}
	}
}

// TestHTTPShape checks the JSON field names and the nulls of an order
// known only from its payment.
func TestHTTPShape(t *testing.T) {
	t.Parallel()
	e := running(t)
	user, o := anOrder(t)
	e.publishSettled(t, o.paid())

	rec := newAPI(t, e.svc).get(t, "/history/"+o.id, user)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"orderId":        o.id,
		"userId":         user,
		"status":         float64(4),
		"statusName":     "PAYMENT_SUCCESS",
		"amountCents":    float64(o.amount()),
		"paymentId":      o.paymentID,
		"items":          []any{},
		"createdOn":      nil,
		"createdBy":      "",
		"lastUpdatedOn":  "2026-03-14T15:09:27.535Z",
		"lastUpdatedBy":  "payments",
		"identityScore":  nil,
		"potentialFraud": false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestHTTPRedisOutageIsUnavailable(t *testing.T) {
	t.Parallel()
	svc, err := orderhistory.NewService(testenv.DeadRedis(t), orderhistory.Config{OrderKey: orderKey, Snapshots: &fakeOrders{}, Orders: &fakeOrders{}}, testenv.Logger(t)) // never run
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, svc)
	for _, path := range []string{"/history", "/history/o-1"} {
		rec := a.get(t, path, "u")
		var eb struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || rec.Code != http.StatusServiceUnavailable ||
			eb.Error.Code != "unavailable" || rec.Header().Get("Retry-After") == "" {
			t.Errorf("GET %s with Redis down: %d %s, Retry-After %q; want 503 unavailable with Retry-After",
				path, rec.Code, rec.Body, rec.Header().Get("Retry-After"))
		}
	}
}

func ptr[T any](v T) *T { return &v }
