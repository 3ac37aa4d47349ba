// Package gateway is streamcart's API gateway, the one public endpoint. It
// gives every shopper an anonymous session (as the tutorial app does: no
// sign-up), signs the shopper's identity onto each request it forwards to a
// service (an anonymous reader's when the request has no session: the
// services answer nothing without a signed identity), routes the versioned API /api/v1 to the products, orders and
// order history services by reverse proxy, relays order updates to the
// browser as Server-Sent Events, and serves the three routes of the
// tutorial's API so that its clients work unchanged.
//
// # Rooms
//
// The gateway imports one other room, the cart (package cart), which
// lives in its process: the gateway builds it, serves its /api/v1/cart
// routes behind its sessions and lends it its clients of the products and
// orders services. Everything else reaches the gateway only through
// Mount: the storefront's pages and the operations page (package ops),
// which own their routes. The gateway imports no service package.
//
// # Client addresses
//
// Each request's client address is decided once, by web.WithClientIP
// (Config.TrustProxy says whether the proxy in front is believed), and
// everything behind it, rate limits, sessions, identities and mounted
// handlers such as /ops, reads it with web.ClientIP.
//
// # Sessions
//
// A session is a user id and a session id in a token that the gateway
// signs (token.go): base64url of the ids with the token's issue and expiry
// times, and an HMAC-SHA256 of them under a key derived from the identity
// secret. The gateway reads the shopper from the token, so a session
// survives the loss of Redis's data; Redis holds only revocations
// (logout), rate counters, event stream slots and carts. Each gateway
// keeps the revocations in memory too, fed by a Pub/Sub channel
// (revocations), and asks Redis only while it cannot trust that copy. A token expires
// Config.SessionTTL after its issue; one older than a minute is renewed
// on use (in the cookie it came in, else in the header
// SessionTokenHeader), so a session lasts SessionTTL after its last use.
// The token is read from "Authorization: Bearer <token>" or else the
// cookie SessionCookie. Reading the catalog (products, categories, images)
// uses a session the request has but never makes one: a read leaves no
// session, stream entry or database row behind. A session is made by the
// first request that needs one (the session endpoint, the cart, orders,
// the tutorial routes) and has no token: LoginIdentityRecorded is appended
// to the transaction stream, then its token is issued; one client address
// may start Config.NewSessionsPerMinute of them. On /api/v1 an unknown,
// expired, revoked or forged token is never replaced silently: it gets 401
// session_expired (and a cookie is cleared); the tutorial routes give it
// a new session, as the tutorial's client expects a token in every
// answer. DELETE /api/v1/session revokes the session. Routes that need a
// session need Redis too (its revocation, its rate limit): when Redis
// cannot be reached, they answer 503.
//
// # Cross-origin writes
//
// A write that the session cookie authenticates must come from this
// origin or one of Config.AllowedOrigins (checkOrigin): the Origin
// header, else Sec-Fetch-Site, says where it comes from. A Bearer token
// is exempt. This is what SameSite=Lax leaves open: another port of the
// same host, or a sibling subdomain.
//
// # Rate limiting
//
// Requests are counted in Redis in fixed one-second windows (package
// ratelimit; INCR and EXPIRE in the same round trip as the session read),
// per client address and per session; a session's requests are taken
// from its window's counter a chunk at a time and spent in the gateway's
// memory (credits). A window allows up to the limit; more gets 429 with
// Retry-After. Fixed windows may let through up to twice the limit across
// a window boundary, which is fine for abuse protection. Rate limiting
// fails open: when Redis is down, public routes are served and a warning
// is logged.
//
// # Money in the tutorial API
//
// Services speak integer cents ("priceCents": 3999). The tutorial API
// speaks currency units as JSON numbers ("price": 39.99). The gateway
// converts exactly, never through floating point: cents to units with
// money.Format, written as a JSON number; units to cents with money.Parse
// on the number's text, which rejects more than two decimals ("39.999"),
// signs and exponents.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/cart"
	"streamcart/internal/events"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// Defaults of Config.
const (
	// DefaultSessionTTL is how long a session token lives, and so an
	// unused session.
	DefaultSessionTTL = 24 * time.Hour
	// DefaultRateLimitSession is the requests per second of one session.
	DefaultRateLimitSession = 50
	// DefaultRateLimitIP is the requests per second of one client IP.
	DefaultRateLimitIP = 2000
	// DefaultMaxBody is the largest request body, in bytes.
	DefaultMaxBody = 64 << 10
	// DefaultKeyPrefix starts the gateway's Redis keys.
	DefaultKeyPrefix = "gateway:"
	// DefaultUpstreamTimeout bounds the wait for a service's answer.
	DefaultUpstreamTimeout = 10 * time.Second
	// DefaultNewSessionsPerMinute is how many sessions one client address
	// may start per minute.
	DefaultNewSessionsPerMinute = 60
	// DefaultEventStreamsPerSession and DefaultEventStreamsPerIP are how
	// many order event streams may be open at once per session and per
	// client address.
	DefaultEventStreamsPerSession = 4
	DefaultEventStreamsPerIP      = 64
	// DefaultEventStreamMaxAge is how long an order event stream lasts
	// before the gateway ends it and the browser reconnects.
	DefaultEventStreamMaxAge = time.Hour
)

// Config configures a Gateway. The three service URLs are required; every
// other zero value means the default named in the field's comment.
type Config struct {
	// ProductsURL, OrdersURL and HistoryURL are the base URLs of the
	// products, orders and order history services, e.g.
	// "http://127.0.0.1:8081".
	ProductsURL, OrdersURL, HistoryURL string
	// SessionTTL is how long a session token is valid after its issue;
	// a token older than a minute (or a tenth of SessionTTL) is renewed
	// on use, so an unused session lives about SessionTTL. The cart lives
	// as long (cart.Config.TTL). Default 24h.
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure (HTTPS only).
	SecureCookies bool
	// TrustProxy takes the client address from the rightmost
	// X-Forwarded-For entry, the one the proxy in front of the gateway
	// added (web.DecideClientIP). Leave it off unless such a proxy exists:
	// clients can send any X-Forwarded-For.
	TrustProxy bool
	// PublicURL is the scheme, host and optional path prefix at which
	// clients reach the gateway, e.g. "https://shop.example.com": the
	// base of the absolute URLs in tutorial responses. Default: built per
	// request from its Host (and X-Forwarded-Host and -Proto with
	// TrustProxy).
	PublicURL string
	// AllowedOrigins are the browser origins (e.g.
	// "https://shop.example.com", exact match) allowed to call the API
	// cross-origin, with credentials (CORS), and to send writes that the
	// session cookie authenticates (checkOrigin). Default none.
	AllowedOrigins []string
	// RateLimitSession and RateLimitIP are the requests per second allowed
	// per session and per client IP. Defaults 50 and 2000; a negative
	// value disables the limit.
	RateLimitSession, RateLimitIP int
	// NewSessionsPerMinute is how many sessions one client address may
	// start per minute, in fixed one-minute windows. Default 60; a
	// negative value disables the limit.
	NewSessionsPerMinute int
	// EventStreamsPerSession and EventStreamsPerIP are how many order
	// event streams (GET /api/v1/orders/events) may be open at once per
	// session on this gateway, and per client address across every
	// gateway sharing the Redis. Defaults 4 and 64; a negative value
	// disables the limit.
	EventStreamsPerSession, EventStreamsPerIP int
	// EventStreamMaxAge is how long an order event stream lasts: then the
	// gateway ends it with a retry: hint and the browser's EventSource
	// reconnects, passing the session and limits again. Default 1h.
	EventStreamMaxAge time.Duration
	// MaxBody is the largest request body accepted, in bytes. Default
	// 64 KiB.
	MaxBody int64
	// KeyPrefix starts every Redis key the gateway writes (session
	// revocations, carts, rate counters). Default "gateway:".
	KeyPrefix string
	// TransactionStream is the stream that gets LoginIdentityRecorded.
	// Default events.TransactionStream.
	TransactionStream string
	// StreamPartitions is how many partitions TransactionStream has
	// (stream.Partitions); a login goes to its user's. Default 1.
	StreamPartitions int
	// UpstreamTimeout bounds the wait for a service's response headers.
	// Default 10s.
	UpstreamTimeout time.Duration
	// StreamMaxAge trims TransactionStream as the gateway appends to it, keeping about
	// the entries of the last StreamMaxAge (XADD MINID ~): a consumer group
	// that falls further behind loses entries, and the order history can be
	// rebuilt only from what is kept. Zero keeps everything.
	StreamMaxAge time.Duration
}

// setDefaults replaces cfg's zero values by the defaults.
func (cfg *Config) setDefaults() {
	cfg.SessionTTL = cmp.Or(cfg.SessionTTL, DefaultSessionTTL)
	cfg.RateLimitSession = cmp.Or(cfg.RateLimitSession, DefaultRateLimitSession)
	cfg.RateLimitIP = cmp.Or(cfg.RateLimitIP, DefaultRateLimitIP)
	cfg.MaxBody = cmp.Or(cfg.MaxBody, DefaultMaxBody)
	cfg.KeyPrefix = cmp.Or(cfg.KeyPrefix, DefaultKeyPrefix)
	cfg.TransactionStream = cmp.Or(cfg.TransactionStream, events.TransactionStream)
	cfg.UpstreamTimeout = cmp.Or(cfg.UpstreamTimeout, DefaultUpstreamTimeout)
	cfg.NewSessionsPerMinute = cmp.Or(cfg.NewSessionsPerMinute, DefaultNewSessionsPerMinute)
	cfg.EventStreamsPerSession = cmp.Or(cfg.EventStreamsPerSession, DefaultEventStreamsPerSession)
	cfg.EventStreamsPerIP = cmp.Or(cfg.EventStreamsPerIP, DefaultEventStreamsPerIP)
	cfg.EventStreamMaxAge = cmp.Or(cfg.EventStreamMaxAge, DefaultEventStreamMaxAge)
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
}

// Validate reports the first thing wrong with cfg, after defaults.
func (cfg Config) Validate() error {
	cfg.setDefaults()
	for name, u := range map[string]string{"ProductsURL": cfg.ProductsURL, "OrdersURL": cfg.OrdersURL, "HistoryURL": cfg.HistoryURL} {
		if _, err := web.ParseBaseURL(u); err != nil {
			return fmt.Errorf("gateway config: %s: %w", name, err)
		}
	}
	switch {
	case cfg.SessionTTL < time.Second:
		return fmt.Errorf("gateway config: SessionTTL %v is shorter than a second", cfg.SessionTTL)
	case cfg.MaxBody < 0:
		return fmt.Errorf("gateway config: MaxBody %d is negative", cfg.MaxBody)
	case cfg.UpstreamTimeout < 0:
		return fmt.Errorf("gateway config: UpstreamTimeout %v is negative", cfg.UpstreamTimeout)
	case cfg.EventStreamMaxAge < 0:
		return fmt.Errorf("gateway config: EventStreamMaxAge %v is negative", cfg.EventStreamMaxAge)
	case cfg.StreamPartitions < 0 || cfg.StreamPartitions > stream.MaxPartitions:
		return fmt.Errorf("gateway config: StreamPartitions %d is not between 1 and %d", cfg.StreamPartitions, stream.MaxPartitions)
	}
	if cfg.PublicURL != "" {
		if u, err := web.ParseBaseURL(cfg.PublicURL); err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("gateway config: PublicURL %q is not scheme://host[:port][/path]", cfg.PublicURL)
		}
	}
	for _, o := range cfg.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			return fmt.Errorf("gateway config: allowed origin %q is not scheme://host[:port]", o)
		}
	}
	return nil
}

// keepalive is how often an idle event stream gets a comment, so that
// proxies and the server's write deadline do not end it.
const keepalive = 15 * time.Second

// Gateway is the API gateway. Build it with New, add a storefront with
// Mount, serve Handler and call Run. It is safe for concurrent use.
type Gateway struct {
	rdb    redis.UniversalClient
	signer *auth.Signer
	tokens tokenSigner // session tokens, under a key derived from signer's
	cfg    Config
	log    *slog.Logger
	pub    *stream.Publisher

	transport *http.Transport
	client    *http.Client
	products  *upstream
	orders    *upstream
	history   *upstream
	origins   map[string]bool

	cart        *cart.Service
	hub         *hub
	revocations *revocations
	credits     credits
	streams     streamCounts // open event streams per session
	running     atomic.Bool
	done        chan struct{} // closed when Run returns: event streams end
	keepalive   time.Duration

	mu      sync.Mutex
	mounts  []mount
	handler http.Handler // built by the first Handler call
}

type mount struct {
	pattern string
	h       http.Handler
}

// New returns a Gateway that keeps its state in rdb and signs identities
// with signer.
func New(rdb redis.UniversalClient, signer *auth.Signer, cfg Config, log *slog.Logger) (*Gateway, error) {
	if rdb == nil || signer == nil || log == nil {
		return nil, errors.New("gateway: rdb, signer and log are required")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{
		rdb:    rdb,
		signer: signer,
		tokens: newTokenSigner(signer),
		cfg:    cfg,
		log:    log,
		pub: stream.NewPublisher(rdb, map[string]stream.Retention{cfg.TransactionStream: {MaxAge: cfg.StreamMaxAge}}).
			Partitioned(cfg.StreamPartitions, events.PartitionKey),
		origins:   map[string]bool{},
		done:      make(chan struct{}),
		keepalive: keepalive,
	}
	for _, o := range cfg.AllowedOrigins {
		g.origins[o] = true
	}
	// Idle connections are kept for as many requests as are in flight
	// under load: a connection closed for want of an idle slot is a new
	// dial, accept and TCP handshake for the next request.
	g.transport = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.UpstreamTimeout,
		ExpectContinueTimeout: time.Second,
	}
	// The client bounds whole calls (headers and body) that the gateway
	// makes itself. The proxies use the transport alone: its
	// ResponseHeaderTimeout bounds the wait for a service, the server's
	// WriteTimeout the rest.
	g.client = &http.Client{Transport: tracing.Transport(g.transport), Timeout: cfg.UpstreamTimeout + 5*time.Second}
	var err error
	if g.products, err = g.newUpstream("products", cfg.ProductsURL, nil); err != nil {
		return nil, err
	}
	if g.orders, err = g.newUpstream("orders", cfg.OrdersURL, map[string]string{"/orders/": "/api/v1/orders/"}); err != nil {
		return nil, err
	}
	if g.history, err = g.newUpstream("history", cfg.HistoryURL, nil); err != nil {
		return nil, err
	}
	g.cart, err = cart.New(rdb, cartClients{g}, cartClients{g}, cart.Config{KeyPrefix: cfg.KeyPrefix, TTL: cfg.SessionTTL}, log)
	if err != nil {
		return nil, err
	}
	g.hub = newHub(rdb, log)
	g.revocations = newRevocations(rdb, log, revocationsName(cfg.KeyPrefix))
	return g, nil
}

// Mount serves h for pattern (a http.ServeMux pattern such as "/" or
// "GET /ops"), behind the request id, client address, access log, CORS
// and body limit but without a session: the storefront and the operations
// page. It must be called before Handler and panics after.
func (g *Gateway) Mount(pattern string, h http.Handler) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.handler != nil {
		panic("gateway: Mount called after Handler")
	}
	g.mounts = append(g.mounts, mount{pattern, h})
}

// Handler returns the gateway's HTTP handler; every call returns the same
// one. Routes:
//
//	GET    /healthz, /readyz                 liveness; Redis and every service's /readyz
//	GET    /api/v1/session                   {"userId", "auth"}
//	DELETE /api/v1/session                   log out: the session is revoked
//	GET    /api/v1/products                  products: GET /products (q, category, limit, offset)
//	GET    /api/v1/products/{id}             products: GET /products/{id}
//	GET    /api/v1/products/{id}/image.svg   products, public (no session)
//	GET    /products/{id}/image.svg          the same, for the services' relative imageUrl
//	GET    /api/v1/categories                products: GET /categories
//	POST   /api/v1/orders                    orders: POST /orders (Idempotency-Key passed on)
//	GET    /api/v1/orders                    history: GET /history (with identity score)
//	GET    /api/v1/orders/{id}               orders: GET /orders/{id}
//	GET    /api/v1/orders/events             Server-Sent Events: the shopper's order updates
//	       /api/v1/cart...                   the cart's routes (cart.Service.Routes)
//	POST   /products/getProductsByFilter     tutorial API
//	POST   /orders/createOrder               tutorial API
//	GET    /orderHistory/viewOrderHistory    tutorial API
//
// The catalog's routes (products, categories, images) read a session the
// request has but never make one; the others make one when the request
// has no token (see need). Any other path under /api/ is a JSON 404;
// paths given to Mount go to their handlers.
func (g *Gateway) Handler() http.Handler {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.handler == nil {
		g.handler = g.build()
	}
	return g.handler
}

func (g *Gateway) build() http.Handler {
	mux := http.NewServeMux()
	// read uses a session the request has; session makes one when there
	// is none (see need).
	read := func(h http.Handler) http.Handler { return g.withSession(optional, h) }
	session := func(h http.Handler) http.Handler { return g.withSession(required, h) }
	tutorial := func(h http.Handler) http.Handler { return g.withSession(always, h) }
	public := g.withIPLimit
	api := func(h web.HandlerFunc) http.Handler { return web.Handle(g.log, h) }

	mux.Handle("GET /api/v1/session", session(api(g.sessionInfo)))
	mux.Handle("DELETE /api/v1/session", session(api(g.revokeSession)))

	mux.Handle("GET /api/v1/products", read(g.forward(g.products, fixedPath("/products"))))
	mux.Handle("GET /api/v1/products/{id}", read(g.forward(g.products, idPath("/products/", "id", ""))))
	mux.Handle("GET /api/v1/products/{id}/image.svg", public(g.forward(g.products, idPath("/products/", "id", "/image.svg"))))
	mux.Handle("GET /products/{id}/image.svg", public(g.forward(g.products, idPath("/products/", "id", "/image.svg"))))
	mux.Handle("GET /api/v1/categories", read(g.forward(g.products, fixedPath("/categories"))))

	mux.Handle("POST /api/v1/orders", session(g.forward(g.orders, fixedPath("/orders"))))
	mux.Handle("GET /api/v1/orders", session(g.forward(g.history, fixedPath("/history"))))
	mux.Handle("GET /api/v1/orders/{id}", session(g.forward(g.orders, idPath("/orders/", "id", ""))))
	mux.Handle("GET /api/v1/orders/events", session(api(g.orderEvents)))

	g.cart.Routes(func(pattern string, h web.HandlerFunc) { mux.Handle(pattern, session(api(h))) })

	mux.Handle("POST "+tutorialProductsPath, tutorial(g.tutorial(g.tutorialProducts)))
	mux.Handle("POST "+tutorialCreateOrderPath, tutorial(g.tutorial(g.tutorialCreateOrder)))
	mux.Handle("GET "+tutorialHistoryPath, tutorial(g.tutorial(g.tutorialHistory)))

	mux.Handle("/api/", api(func(w http.ResponseWriter, r *http.Request) error {
		return errs.NotFound("", "no API route %s %s", r.Method, r.URL.Path)
	}))
	web.Health(mux, g.log, g.readyChecks())
	for _, m := range g.mounts {
		mux.Handle(m.pattern, m.h)
	}
	h := web.NoteRoute(mux) // the route pattern, for the metrics
	h = g.limitBody(h)
	h = g.cors(h)
	h = stripInternalHeaders(h)
	h = g.guardInput(h)
	h = web.AccessLog(g.log, h)
	h = web.WithClientIP(g.cfg.TrustProxy, h)
	h = securityHeaders(h)
	return web.WithRequestID(h)
}

// Run serves the gateway's background work until ctx is cancelled: the
// Redis subscriptions behind the order event streams and this gateway's
// copy of the session revocations (before it runs, every request asks
// Redis whether its session is revoked). When ctx ends, open
// event streams end too, so that the HTTP server's graceful shutdown does
// not wait for them. Run it once, next to the server; before it runs,
// event streams answer 503. A second call returns an error at once.
func (g *Gateway) Run(ctx context.Context) error {
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("gateway: Run called twice")
	}
	defer close(g.done)
	g.hub.start(ctx)
	defer g.hub.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { g.revocations.run(ctx) })
	<-ctx.Done()
	return nil
}

// readyChecks checks Redis and each service's /readyz.
func (g *Gateway) readyChecks() map[string]web.Check {
	checks := map[string]web.Check{
		"redis": func(ctx context.Context) error { return g.rdb.Ping(ctx).Err() },
	}
	for _, up := range []*upstream{g.products, g.orders, g.history} {
		checks[up.name] = func(ctx context.Context) error {
			return web.Probe(ctx, g.client, up.base.JoinPath("/readyz").String())
		}
	}
	return checks
}

// sessionInfo serves GET /api/v1/session.
func (g *Gateway) sessionInfo(w http.ResponseWriter, r *http.Request) error {
	s := mustSession(r.Context())
	w.Header().Set("Cache-Control", "no-store") // it holds the token
	web.WriteJSON(w, http.StatusOK, map[string]string{"userId": s.UserID, "auth": s.Token})
	return nil
}
