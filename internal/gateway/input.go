package gateway

import (
	"net/http"
	"strings"

	"streamcart/internal/platform/web"
)

// guardInput refuses a request whose path or query web.CheckURL refuses
// (a NUL, a control character, invalid UTF-8, a bad escape, an over-long
// part) with 400, written the way the route's clients expect (fail),
// before a session, a rate limit or a route sees it.
func (g *Gateway) guardInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := web.CheckURL(r); err != nil {
			g.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets X-Content-Type-Options: nosniff on every response
// (web.NoSniff), and Cache-Control: no-store on every response of a route
// with personal data (isPersonalPath), errors included, so that no cache
// between the gateway and the browser keeps a shopper's session, cart or
// orders.
func securityHeaders(next http.Handler) http.Handler {
	return web.NoSniff(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPersonalPath(r.URL.Path) {
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	}))
}

// isPersonalPath reports whether the gateway's route at path answers with
// a shopper's own data: the session (its token), orders, order history
// and order events, the cart, and the tutorial API (whose envelope holds
// the token).
func isPersonalPath(path string) bool {
	for _, prefix := range []string{"/api/v1/orders", "/api/v1/cart"} {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return true
		}
	}
	return path == "/api/v1/session" || isTutorialPath(path)
}
