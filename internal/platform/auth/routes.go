package auth

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// Access says who may call a route: nobody needs a credential (Open), or
// a valid signed identity of one of a set of roles. The zero Access allows
// no one, so a route cannot be left unguarded by omission.
type Access uint8

// access bits: one per role, and open.
const (
	allowShopper Access = 1 << iota
	allowReader
	allowService
	allowOperator
	open
)

// The access rules of the services' routes.
const (
	// Open needs no credential: liveness, readiness and metrics only.
	Open = open
	// AnyCaller needs a valid identity of any role: catalog reads.
	AnyCaller = allowShopper | allowReader | allowService | allowOperator
	// Shopper needs a shopper's identity: a shopper's own orders, history
	// and identities.
	Shopper = allowShopper
	// Operator needs an operator's identity: catalog writes.
	Operator = allowOperator
	// ShopperOrOperator needs a shopper's identity (who sees only their
	// own) or an operator's (who sees anyone's).
	ShopperOrOperator = allowShopper | allowOperator
	// ServiceOrOperator needs a service's identity or an operator's: work
	// one service asks of another, which an operator may ask too.
	ServiceOrOperator = allowService | allowOperator
)

var roleBits = map[Role]Access{
	RoleShopper:  allowShopper,
	RoleReader:   allowReader,
	RoleService:  allowService,
	RoleOperator: allowOperator,
}

// Allows reports whether a caller of role may call a route with access a.
// Open allows every role too.
func (a Access) Allows(role Role) bool {
	return a == Open || a&roleBits[role] != 0
}

// String names a: "open", "any caller", or the roles it allows joined by
// " or ".
func (a Access) String() string {
	switch a {
	case Open:
		return "open"
	case AnyCaller:
		return "any caller"
	case 0:
		return "no one"
	}
	var names []string
	for _, r := range Roles {
		if a&roleBits[r] != 0 {
			names = append(names, string(r))
		}
	}
	return strings.Join(names, " or ")
}

// Route is a registered route: a http.ServeMux pattern and who may call it.
type Route struct {
	Pattern string
	Access  Access
}

// Routes is a service's route table: its HTTP handler, in which every
// route is registered with the Access it needs. Every service's HTTP API
// is one (its NewHandler), so what follows holds for all of them and
// their NewHandler lists only their own routes.
//
// Requests to a route that is not Open need a valid identity (auth.Header,
// which the gateway signs for a shopper or an anonymous reader, a service
// for itself, and "streamcart token" for an operator) of a role the Access
// allows: without one, or with a bad signature or an expired one, they
// get 401 "unauthenticated"; with a role the route does not allow, 403
// "forbidden". Handlers behind it get the identity from MustFromContext.
// Errors are JSON {"error": {"code", "message"}} (web.Handle).
//
// NewRoutes registers GET /healthz and GET /readyz (Open); unrouted
// requests get JSON errors (web.CatchAll); every request gets a request id
// and an access log line; a URL that web.CheckURL refuses gets 400 before
// any route or credential check sees it (web.CheckInput); every response
// is nosniff (web.NoSniff); the pattern that served a request is noted
// for the metrics (web.NoteRoute). Register every route before serving; Routes is
// safe for concurrent use after that.
type Routes struct {
	signer *Signer
	log    *slog.Logger
	mux    *http.ServeMux
	routes []Route
	h      http.Handler
}

// NewRoutes returns a route table whose identities signer checks, whose
// errors go to log and whose /readyz runs checks.
func NewRoutes(signer *Signer, log *slog.Logger, checks map[string]web.Check) *Routes {
	if signer == nil || log == nil {
		panic("auth: NewRoutes needs a signer and a logger")
	}
	rt := &Routes{signer: signer, log: log, mux: http.NewServeMux()}
	health := http.NewServeMux()
	web.Health(health, log, checks)
	rt.Handle("GET /healthz", Open, health)
	rt.Handle("GET /readyz", Open, health)
	web.CatchAll(rt.mux)
	rt.h = web.WithRequestID(web.NoSniff(web.AccessLog(log, web.CheckInput(log, web.NoteRoute(rt.mux)))))
	return rt
}

// Handle registers h for pattern (a http.ServeMux pattern with a method,
// e.g. "PATCH /products/{id}"), behind access. It panics, as
// http.ServeMux does for a conflicting pattern, on a pattern without a
// method or on the zero Access: both are bugs in the service's code.
func (rt *Routes) Handle(pattern string, access Access, h http.Handler) {
	if method, _, ok := strings.Cut(pattern, " "); !ok || method == "" || strings.HasPrefix(method, "/") {
		panic(fmt.Sprintf("auth: route %q has no method", pattern))
	}
	if access == 0 {
		panic(fmt.Sprintf("auth: route %q has no access rule", pattern))
	}
	rt.mux.Handle(pattern, rt.signer.guard(rt.log, access, h))
	rt.routes = append(rt.routes, Route{Pattern: pattern, Access: access})
}

// HandleFunc registers the error-returning handler h (web.Handle) for
// pattern, behind access, like Handle.
func (rt *Routes) HandleFunc(pattern string, access Access, h web.HandlerFunc) {
	rt.Handle(pattern, access, web.Handle(rt.log, h))
}

// Registered returns every route registered, in registration order, for
// tests and documentation to compare with what they expect.
func (rt *Routes) Registered() []Route {
	return slices.Clone(rt.routes)
}

// ServeHTTP serves the routes.
func (rt *Routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.h.ServeHTTP(w, r)
}

// guard lets a request through to next only with an identity that access
// allows, which it puts in the request's context.
func (s *Signer) guard(log *slog.Logger, access Access, next http.Handler) http.Handler {
	if access == Open {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.Verify(r.Header.Get(Header), time.Now())
		if err != nil {
			web.WriteError(w, r, log, &errs.Error{Kind: errs.KindUnauthorized, Code: "unauthenticated",
				Message: "request has no valid identity: " + err.Error() + "; services take the gateway's signed identity or an operator's token",
				Err:     err})
			return
		}
		if !access.Allows(id.Role) {
			web.WriteError(w, r, log, errs.Forbidden("forbidden", "a %s may not call this route: it is for %s", id.Role, access))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}
