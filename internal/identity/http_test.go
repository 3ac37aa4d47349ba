package identity_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/identity"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

func TestHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.start(t)
	e.publish(t, e.cfg.TransactionStream, login("u-1", firefox, home), login("u-2", safari, office))
	waitIdentities(t, svc, "u-1", 1)
	waitIdentities(t, svc, "u-2", 1)
	e.publish(t, e.cfg.OrdersStream,
		order("o-1", "u-1", firefox, cafe).Event(orderKey),
		order("o-2", "u-2", safari, office).Event(orderKey))
	sc1 := waitScore(t, svc, "o-1", 10*time.Second)
	waitScore(t, svc, "o-2", 10*time.Second)
	ids, err := svc.Identities(t.Context(), "u-1")
	if err != nil || len(ids) != 1 {
		t.Fatalf("Identities(u-1) = %v, %v; want one", ids, err)
	}

	signer := servicetest.Signer()
	srv := httptest.NewServer(identity.NewHandler(svc, signer))
	t.Cleanup(srv.Close)

	notFound := web.ErrorBody{Error: web.ErrorDetail{Code: "not_found", Message: "no identity score for this order"}}
	tests := []struct {
		name       string
		path       string
		user       string // "" sends no identity
		wantStatus int
		wantBody   any // nil: only the status is checked
	}{
		{name: "identities without identity", path: "/identities", wantStatus: http.StatusUnauthorized},
		{name: "score without identity", path: "/scores/o-1", wantStatus: http.StatusUnauthorized},
		{
			name: "own identities", path: "/identities", user: "u-1", wantStatus: http.StatusOK,
			wantBody: map[string]any{"identities": []any{map[string]any{
				"fingerprint": identity.Fingerprint(firefox), "ip": home, "firstSeen": ids[0].FirstSeen, "lastSeen": ids[0].LastSeen,
			}}},
		},
		{name: "no identities", path: "/identities", user: "u-3", wantStatus: http.StatusOK, wantBody: map[string]any{"identities": []any{}}},
		{
			name: "own score", path: "/scores/o-1", user: "u-1", wantStatus: http.StatusOK,
			wantBody: map[string]any{"orderId": "o-1", "score": 0.5, "potentialFraud": false, "scoredAt": sc1.ScoredAt},
		},
		{name: "other user's score", path: "/scores/o-2", user: "u-1", wantStatus: http.StatusNotFound, wantBody: notFound},
		{name: "unknown order", path: "/scores/o-9", user: "u-1", wantStatus: http.StatusNotFound, wantBody: notFound},
		{
			name: "malformed order id", path: "/scores/o%20'1", user: "u-1", wantStatus: http.StatusNotFound,
			wantBody: web.ErrorBody{Error: web.ErrorDetail{Code: "not_found", Message: "no such orderId"}},
		},
		{name: "liveness", path: "/healthz", wantStatus: http.StatusOK, wantBody: map[string]string{"status": "ok"}},
		{name: "readiness", path: "/readyz", wantStatus: http.StatusOK, wantBody: map[string]string{"status": "ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.user != "" {
				req.Header.Set(auth.Header, signer.Sign(auth.Identity{Role: auth.RoleShopper, UserID: tt.user, SessionID: stream.NewID()}))
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got any
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("GET %s: decode body: %v", tt.path, err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("GET %s as %q: status %d, want %d; body %v", tt.path, tt.user, resp.StatusCode, tt.wantStatus, got)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q, want JSON", tt.path, ct)
			}
			if resp.Header.Get(web.RequestIDHeader) == "" {
				t.Errorf("GET %s: no %s header", tt.path, web.RequestIDHeader)
			}
			if tt.wantBody == nil {
				return
			}
			if diff := cmp.Diff(testenv.JSON(t, tt.wantBody), got); diff != "" {
				t.Errorf("GET %s as %q: body (-want +got):\n%s", tt.path, tt.user, diff)
			}
		})
	}
}
