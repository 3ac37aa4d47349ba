package auth

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"streamcart/internal/platform/web"
)

// TestAClientCallsAsItsServiceWithTheRequestID: a service behind a route
// table that only services may call accepts the Client's request, sees
// the caller's service identity and body, and logs under the request id
// of the call that made it.
func TestAClientCallsAsItsServiceWithTheRequestID(t *testing.T) {
	t.Parallel()
	signer, err := NewSigner(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		id        Identity
		requestID string
		body      map[string]string
	}
	got := make(chan seen, 1)
	rt := NewRoutes(signer, slog.New(slog.DiscardHandler), nil)
	rt.HandleFunc("POST /things", ServiceOrOperator, func(w http.ResponseWriter, r *http.Request) error {
		s := seen{id: MustFromContext(r.Context()), requestID: web.RequestID(r.Context())}
		if err := json.NewDecoder(r.Body).Decode(&s.body); err != nil {
			return err
		}
		got <- s
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	c := NewClient(srv.URL, "orders", signer, srv.Client())

	// The call happens while serving a request with id r-1, as a
	// service's calls do.
	var status int
	caller := web.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := c.PostJSON(r.Context(), "/things", map[string]string{"after": "o-1"})
		if err != nil {
			t.Errorf("PostJSON: %v", err)
			return
		}
		resp.Body.Close()
		status = resp.StatusCode
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(web.RequestIDHeader, "r-1")
	caller.ServeHTTP(httptest.NewRecorder(), req)

	if status != http.StatusNoContent {
		t.Fatalf("status %d, want 204", status)
	}
	s := <-got
	if s.id.Role != RoleService || s.id.UserID != "orders" {
		t.Errorf("callee saw identity %+v, want the service orders", s.id)
	}
	if s.requestID != "r-1" {
		t.Errorf("callee saw request id %q, want r-1", s.requestID)
	}
	if s.body["after"] != "o-1" {
		t.Errorf("callee read body %v, want after o-1", s.body)
	}
}
