package auth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// TestAClientCallsAsItsServiceWithTheRequestID: a service behind a route
// table that only services may call accepts the Client's request, sees
// the caller's service identity and body, and logs under the request id
// of the call that made it; its answer is decoded.
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
		web.WriteJSON(w, http.StatusOK, map[string]int{"count": 3})
		return nil
	})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	c := NewClient(srv.URL, "orders", signer, srv.Client())

	// The call happens while serving a request with id r-1, as a
	// service's calls do.
	var answer struct {
		Count int `json:"count"`
	}
	caller := web.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := c.PostJSON(r.Context(), "/things", map[string]string{"after": "o-1"}, &answer); err != nil {
			t.Errorf("PostJSON: %v", err)
		}
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(web.RequestIDHeader, "r-1")
	caller.ServeHTTP(httptest.NewRecorder(), req)

	if answer.Count != 3 {
		t.Errorf("decoded answer %+v, want count 3", answer)
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

// TestAClientTellsAnAnswerFromNone: an answer other than 200 is an
// *AnswerError with its status and body; a service that cannot be
// reached is ErrNoAnswer.
func TestAClientTellsAnAnswerFromNone(t *testing.T) {
	t.Parallel()
	signer, err := NewSigner(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, r, slog.New(slog.DiscardHandler), errs.Unavailable(errors.New("down"), "busy"))
	}))
	c := NewClient(srv.URL, "orders", signer, srv.Client())
	var answer *AnswerError
	if err := c.PostJSON(t.Context(), "/things", nil, &struct{}{}); !errors.As(err, &answer) || answer.StatusCode != http.StatusServiceUnavailable || len(answer.Body) == 0 {
		t.Errorf("a 503 answer: error %v, want an *AnswerError with status 503 and the body", err)
	}
	srv.Close()
	if err := c.PostJSON(t.Context(), "/things", nil, &struct{}{}); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("a closed server: error %v, want ErrNoAnswer", err)
	}
}
