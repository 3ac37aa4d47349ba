package gateway

import (
	"net/http"
	"net/url"
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

// checkOrigin refuses a cross-origin write that the browser's session
// cookie would authenticate (CSRF). SameSite=Lax does not cover it: the
// browser sends the cookie from another port of the same host and from a
// sibling subdomain, which are the same site but not the same origin.
//
// An unsafe request (anything but GET, HEAD and OPTIONS) that does not
// carry its token as a Bearer header must come from an allowed origin:
// its Origin header, when present, must name this host (Origin's host
// equals the request's Host, whatever the scheme, as a TLS-terminating
// proxy may change it) or one of Config.AllowedOrigins; without Origin,
// Sec-Fetch-Site must be same-origin or none (typed by the user). A
// request with neither header is not from a browser (curl, the
// storefront's own calls) and passes. A Bearer token is exempt: a browser
// never adds it to a request on its own.
func (g *Gateway) checkOrigin(r *http.Request, from credential) error {
	if from == bearerCredential {
		return nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if g.origins[origin] {
			return nil
		}
		if u, err := url.Parse(origin); err == nil && u.Host != "" && u.Host == r.Host && (u.Scheme == "http" || u.Scheme == "https") {
			return nil
		}
		return errs.Forbidden("cross_origin", "a request from another origin may not change this session; send the session token as a Bearer header, or call from an allowed origin")
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	default:
		return errs.Forbidden("cross_origin", "a request from another site may not change this session; send the session token as a Bearer header, or call from an allowed origin")
	}
}

// CORS settings for allowed origins.
const (
	corsMethods = "GET, POST, PUT, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
	corsExpose  = "Retry-After, X-Request-Id, Location, " + SessionTokenHeader
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
