package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/platform/web"
)

// upstream is a service behind the gateway.
type upstream struct {
	name  string
	base  *url.URL
	proxy *httputil.ReverseProxy
}

// errUpstreamAuth means a service refused the gateway's signed identity:
// the gateway and the service do not share the secret.
var errUpstreamAuth = errors.New("service rejected the gateway's identity (401); check the shared identity secret")

// newUpstream returns the service at baseURL with its reverse proxy.
// locations maps a prefix of the service's Location headers to the
// gateway's, e.g. "/orders/" to "/api/v1/orders/".
func (g *Gateway) newUpstream(name, baseURL string, locations map[string]string) (*upstream, error) {
	base, err := web.ParseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	up := &upstream{name: name, base: base}
	up.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			g.outboundHeaders(pr.In.Context(), pr.Out.Header)
		},
		Transport:  tracing.Transport(g.transport),
		BufferPool: proxyBuffers,
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusUnauthorized {
				return errUpstreamAuth
			}
			// The gateway alone speaks CORS and sets cookies.
			for k := range resp.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					delete(resp.Header, k)
				}
			}
			resp.Header.Del("Set-Cookie")
			// The gateway sets its own (securityHeaders); a copy would repeat it.
			resp.Header.Del("X-Content-Type-Options")
			if loc := resp.Header.Get("Location"); loc != "" {
				for from, to := range locations {
					if strings.HasPrefix(loc, from) {
						resp.Header.Set("Location", to+strings.TrimPrefix(loc, from))
					}
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				g.log.DebugContext(r.Context(), "client went away during proxying", "service", name, "path", r.URL.Path)
				return
			}
			g.fail(w, r, upstreamError(name, err))
		},
	}
	return up, nil
}

// proxyBuffers lends the proxies the buffers they copy response bodies
// through: without it each proxied request allocates 32 KiB, which was a
// fifth of the bytes the services allocated under load.
var proxyBuffers = &bufferPool{}

// bufferPool is an httputil.BufferPool of 32 KiB buffers.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// readerIdentity is the identity the gateway signs onto a request without
// a session: a read on behalf of an anonymous client, which the services
// let through to their catalog reads only.
var readerIdentity = auth.Identity{Role: auth.RoleReader}

// outboundHeaders makes h fit for a service: no client credentials and
// internal headers or trace context, a freshly signed identity (the
// shopper's when the request has a session, else the anonymous reader's),
// and the request id.
// Every call to a service carries an identity: the services answer 401
// without one.
func (g *Gateway) outboundHeaders(ctx context.Context, h http.Header) {
	dropInternalHeaders(h)
	h.Del("Authorization")
	h.Del("Cookie")
	// The gateway starts every trace (tracing.Public): a client's trace
	// context goes no further.
	h.Del("Traceparent")
	h.Del("Tracestate")
	id := readerIdentity
	if s, ok := sessionFrom(ctx); ok {
		id = s.identity()
	}
	h.Set(auth.Header, g.signer.Sign(id))
	if id := web.RequestID(ctx); id != "" {
		h.Set(web.RequestIDHeader, id)
	}
}

// upstreamError turns a failed call to a service into the error the client
// gets: 413 for a body over the limit, 504 when the service is too slow,
// 503 when it cannot be reached, 502 for anything else.
func upstreamError(service string, err error) error {
	var (
		tooLarge *http.MaxBytesError
		netErr   net.Error
		opErr    *net.OpError
	)
	var e *errs.Error
	switch {
	case errors.As(err, &tooLarge):
		e = errs.E(errs.KindTooLarge, "body_too_large", "request body is larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		e = errs.E(errs.KindTimeout, "upstream_timeout", "the %s service did not answer in time; try again shortly", service)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		e = errs.E(errs.KindUnavailable, "unavailable", "the %s service is unavailable; try again shortly", service)
	default:
		e = errs.E(errs.KindBadGateway, "bad_gateway", "the %s service failed to answer; try again shortly", service)
	}
	e.Err = err
	return e
}

// pathFunc returns the service path for a gateway request, or an error
// such as a 404 for a malformed id.
type pathFunc func(r *http.Request) (string, error)

func fixedPath(p string) pathFunc {
	return func(*http.Request) (string, error) { return p, nil }
}

// idPath returns prefix + the path value name + suffix, refusing ids that
// are not plain identifiers, so that nothing but the id reaches the path.
func idPath(prefix, name, suffix string) pathFunc {
	return func(r *http.Request) (string, error) {
		id := r.PathValue(name)
		if !web.ValidID(id) {
			return "", errs.NotFound("", "%s %q not found", name, id)
		}
		return prefix + id + suffix, nil
	}
}

// forward proxies the request to up at the path from path, keeping the
// query.
func (g *Gateway) forward(up *upstream, path pathFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := path(r)
		if err != nil {
			g.fail(w, r, err)
			return
		}
		out := new(http.Request)
		*out = *r
		u := *r.URL
		u.Path, u.RawPath = p, ""
		out.URL = &u
		up.proxy.ServeHTTP(w, out)
	})
}
