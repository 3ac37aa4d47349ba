package auth

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

func TestAccessAllowsItsRolesOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		access Access
		name   string
		allows []Role // Open allows anyone: it checks nothing
	}{
		{Open, "open", append(Roles, "", "admin")},
		{AnyCaller, "any caller", Roles},
		{Shopper, "shopper", []Role{RoleShopper}},
		{Operator, "operator", []Role{RoleOperator}},
		{ShopperOrOperator, "shopper or operator", []Role{RoleShopper, RoleOperator}},
		{0, "no one", nil},
	}
	for _, tt := range tests {
		if got := tt.access.String(); got != tt.name {
			t.Errorf("Access(%d).String() = %q, want %q", tt.access, got, tt.name)
		}
		for _, r := range append(Roles, "", "admin") {
			want := false
			for _, a := range tt.allows {
				want = want || a == r
			}
			if got := tt.access.Allows(r); got != want {
				t.Errorf("%s.Allows(%q) = %v, want %v", tt.access, r, got, want)
			}
		}
	}
}

func TestRoutesAnswer401WithoutAValidIdentityAnd403ToARoleTheRouteDoesNotAllow(t *testing.T) {
	t.Parallel()
	s, _ := NewSigner(secret, time.Minute)
	other, _ := NewSigner([]byte("another-secret-another-secret-another"), time.Minute)
	rt := NewRoutes(s, slog.New(slog.DiscardHandler), nil)
	echo := func(w http.ResponseWriter, r *http.Request) error {
		id := MustFromContext(r.Context())
		_, _ = io.WriteString(w, string(id.Role)+":"+id.UserID)
		return nil
	}
	rt.HandleFunc("GET /any", AnyCaller, echo)
	rt.HandleFunc("PATCH /ops", Operator, echo)
	rt.HandleFunc("GET /mine", Shopper, echo)

	shopper := s.Sign(Identity{Role: RoleShopper, UserID: "u-1"})
	operator := s.Sign(Identity{Role: RoleOperator, UserID: "ops"})
	tests := []struct {
		method, path, header string
		status               int
		want                 string // the body, or the error code
	}{
		{"GET", "/healthz", "", 200, ""},
		{"GET", "/readyz", "", 200, ""},
		{"GET", "/any", "", 401, "unauthenticated"},
		{"GET", "/any", "garbage", 401, "unauthenticated"},
		{"GET", "/any", other.Sign(Identity{Role: RoleOperator, UserID: "ops"}), 401, "unauthenticated"},
		{"GET", "/any", s.Sign(Identity{Role: RoleReader}), 200, "reader:"},
		{"GET", "/any", shopper, 200, "shopper:u-1"},
		{"PATCH", "/ops", shopper, 403, "forbidden"},
		{"PATCH", "/ops", s.Sign(Identity{Role: RoleService, UserID: "orders"}), 403, "forbidden"},
		{"PATCH", "/ops", operator, 200, "operator:ops"},
		{"GET", "/mine", operator, 403, "forbidden"},
		{"GET", "/mine", shopper, 200, "shopper:u-1"},
		{"GET", "/nowhere", "", 404, "no_route"},
		{"POST", "/any", shopper, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.header != "" {
			req.Header.Set(Header, tt.header)
		}
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, req)
		got := rec.Body.String()
		if rec.Code >= 400 {
			var eb struct{ Error struct{ Code string } }
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
				t.Errorf("%s %s: error body %q is not JSON", tt.method, tt.path, got)
			}
			got = eb.Error.Code
		} else if tt.want == "" {
			got = ""
		}
		if rec.Code != tt.status || got != tt.want {
			t.Errorf("%s %s (identity %.12q): %d %q, want %d %q", tt.method, tt.path, tt.header, rec.Code, got, tt.status, tt.want)
		}
	}
	want := []Route{
		{"GET /healthz", Open}, {"GET /readyz", Open},
		{"GET /any", AnyCaller}, {"PATCH /ops", Operator}, {"GET /mine", Shopper},
	}
	if diff := gocmp.Diff(want, rt.Registered()); diff != "" {
		t.Errorf("Registered() (-want +got):\n%s", diff)
	}
}

func TestARouteWithoutAnAccessRuleOrAMethodCannotBeRegistered(t *testing.T) {
	t.Parallel()
	s, _ := NewSigner(secret, time.Minute)
	for _, tt := range []struct {
		pattern string
		access  Access
	}{
		{"GET /x", 0},
		{"/x", AnyCaller},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q, %s) did not panic", tt.pattern, tt.access)
				}
			}()
			NewRoutes(s, slog.New(slog.DiscardHandler), nil).Handle(tt.pattern, tt.access, http.NotFoundHandler())
		}()
	}
}
