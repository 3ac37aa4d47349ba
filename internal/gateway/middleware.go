package gateway

import (
	"net/http"
	"strings"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// internalHeaderPrefix starts the headers that only the gateway may send
// to services, such as auth.Header.
const internalHeaderPrefix = "X-Streamcart-"

// fail writes err the way the route's clients expect: the tutorial
// envelope on tutorial routes, web's error body everywhere else. It logs
// as web.Handle does.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, err error) {
	if isTutorialPath(r.URL.Path) {
		g.writeEnvelope(w, r, nil, err)
		return
	}
	web.Handle(g.log, func(http.ResponseWriter, *http.Request) error { return err }).ServeHTTP(w, r)
}

// stripInternalHeaders drops every X-Streamcart-* header a client sent:
// only the gateway vouches for identities.
func stripInternalHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dropInternalHeaders(r.Header)
		next.ServeHTTP(w, r)
	})
}

func dropInternalHeaders(h http.Header) {
	for k := range h {
		if len(k) >= len(internalHeaderPrefix) && strings.EqualFold(k[:len(internalHeaderPrefix)], internalHeaderPrefix) {
			delete(h, k)
		}
	}
}

// limitBody refuses bodies larger than MaxBody: at once when
// Content-Length says so, else when reading passes the limit.
func (g *Gateway) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > g.cfg.MaxBody {
			g.fail(w, r, errBodyTooLarge(g.cfg.MaxBody))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBody)
		}
		next.ServeHTTP(w, r)
	})
}

func errBodyTooLarge(limit int64) error {
	return errs.E(errs.KindTooLarge, "body_too_large", "request body is larger than %d bytes", limit)
}

// CORS settings for allowed origins.
const (
	corsMethods = "GET, POST, PUT, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
	corsExpose  = "Retry-After, X-Request-Id, Location"
	corsMaxAge  = "600"
)

// cors lets the browser origins of Config.AllowedOrigins (exact match)
// call the API with credentials, and answers their preflight requests
// with 204. A preflight from another origin gets 403.
func (g *Gateway) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		allowed := origin != "" && g.origins[origin]
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !allowed {
				g.fail(w, r, errs.Forbidden("origin_not_allowed", "origin %q may not call this API", origin))
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", corsExpose)
		}
		next.ServeHTTP(w, r)
	})
}
