package auth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// serveAs serves h to a GET of target by a shopper with user id userID.
func serveAs(t *testing.T, h web.HandlerFunc, pattern, target, userID string) (int, string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(pattern, web.Handle(slog.New(slog.DiscardHandler), h))
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r = r.WithContext(WithIdentity(r.Context(), Identity{UserID: userID, Role: RoleShopper}))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, strings.TrimSpace(string(body))
}

func TestGetOwnByIDAsksForTheCallersThingOnly(t *testing.T) {
	t.Parallel()
	get := func(_ context.Context, userID, id string) (string, error) {
		if userID != "u-1" || id != "o-1" {
			return "", errs.NotFound("not_found", "no such order")
		}
		return userID + "/" + id, nil
	}
	tests := []struct {
		target, userID string
		code           int
		body           string
	}{
		{"/things/o-1", "u-1", http.StatusOK, `"u-1/o-1"`},
		{"/things/o-1", "u-2", http.StatusNotFound, `"not_found"`},
		{"/things/bad!id", "u-1", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		code, body := serveAs(t, GetOwnByID("id", get), "GET /things/{id}", tt.target, tt.userID)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s as %s = %d %s, want %d with %s", tt.target, tt.userID, code, body, tt.code, tt.body)
		}
	}
}

func TestListOwnListsTheCallersThingsUpToTheLimit(t *testing.T) {
	t.Parallel()
	list := func(_ context.Context, userID string, limit int) ([]string, error) {
		return []string{userID, strings.Repeat("x", limit)}, nil
	}
	tests := []struct {
		target string
		code   int
		body   string
	}{
		{"/things", http.StatusOK, `{"things":["u-1","xx"]}`},
		{"/things?limit=3", http.StatusOK, `{"things":["u-1","xxx"]}`},
		{"/things?limit=0", http.StatusBadRequest, `"invalid_limit"`},
		{"/things?limit=6", http.StatusBadRequest, `"invalid_limit"`},
	}
	for _, tt := range tests {
		code, body := serveAs(t, ListOwn("things", 2, 5, list), "GET /things", tt.target, "u-1")
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s = %d %s, want %d with %s", tt.target, code, body, tt.code, tt.body)
		}
	}
}

func TestGetByIDGivesGetTheCaller(t *testing.T) {
	t.Parallel()
	get := func(_ context.Context, caller Identity, id string) (string, error) {
		return string(caller.Role) + "/" + caller.UserID + "/" + id, nil
	}
	code, body := serveAs(t, GetByID("id", get), "GET /things/{id}", "/things/o-1", "u-1")
	if want := `"shopper/u-1/o-1"`; code != http.StatusOK || body != want {
		t.Errorf("GET /things/o-1 = %d %s, want 200 %s", code, body, want)
	}
}
