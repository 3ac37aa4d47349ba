// Package ops is the operations page, /ops: each stream's length, rate,
// consumer groups (lag, pending) and newest dead letters, read from Redis
// (stream.Inspect, stream.DeadLetters), the replay of a dead letter to
// its stream (stream.Replay), and an order's journey from its placing to
// its final status in the history, each step's time told by the service
// that owns the step, over its API (JourneyConfig). It owns its routes, its operator sign-in
// and the limit on sign-in attempts; the gateway serves them through
// Mount, and the storefront draws them in the shop's look (Pages).
//
// Only operators get in: the page needs Config.OperatorToken, sent as
// "Authorization: Bearer <token>" or entered once in a sign-in form that
// sets an HttpOnly, SameSite=Strict cookie; the forms (replay, sign-out)
// also need a form token bound to that login. A login is a random token
// that Redis knows for Config.LoginTTL (default 12h); signing out deletes
// it, so a copy of the cookie opens nothing afterwards. Every try of the
// operator token, by the form or a Bearer header, is limited per client
// address (Config.LoginAttempts per minute, counted in Redis), so that
// the token cannot be guessed at speed.
//
// ops imports only events, stream and platform packages: not the gateway,
// not the storefront, not another service.
package ops

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// Defaults of Config.
const (
	// DefaultLoginAttempts is how many sign-in attempts per minute one
	// client address gets.
	DefaultLoginAttempts = 10
	// DefaultKeyPrefix starts the Redis keys of /ops (its logins and
	// sign-in counters).
	DefaultKeyPrefix = "ops:"
	// DefaultLoginTTL is how long an operator login lasts.
	DefaultLoginTTL = 12 * time.Hour
)

// Config configures Ops. Every zero value means the default named in the
// field's comment.
type Config struct {
	// OperatorToken opens /ops. Empty keeps /ops closed to everyone.
	OperatorToken string
	// Streams are the logical streams /ops shows. Default: ORDERS_STREAM,
	// PAYMENTS_STREAM and TRANSACTION_STREAM.
	Streams []string
	// Partitions is how many partitions each of Streams has
	// (stream.Partitions): the page shows each partition, with its dead
	// letters, and replays a dead letter to its partition. Default 1.
	Partitions int
	// SecureCookies marks the operator cookie Secure (HTTPS only).
	SecureCookies bool
	// LoginAttempts is how many tries of the operator token one client
	// address (web.ClientIP) gets per minute, in fixed one-minute
	// windows: form sign-ins and Bearer requests share it, and a right
	// token gives its try back. Default 10; negative disables the limit.
	LoginAttempts int
	// LoginTTL is how long an operator login (the sign-in form's cookie)
	// lasts; signing out ends it at once. Default 12h.
	LoginTTL time.Duration
	// KeyPrefix starts the Redis keys of the logins,
	// KeyPrefix + "login:<MAC of the cookie>", and of the sign-in
	// counters, KeyPrefix + "rl:login:<address>:<window>". Default "ops:".
	KeyPrefix string
	// Journey says where the page asks about an order's journey
	// (GET /ops/journey). Zero: the page says journeys are not set up.
	Journey JourneyConfig
}

func (cfg *Config) setDefaults() {
	if len(cfg.Streams) == 0 {
		cfg.Streams = []string{events.OrdersStream, events.PaymentsStream, events.TransactionStream}
	}
	cfg.LoginAttempts = cmp.Or(cfg.LoginAttempts, DefaultLoginAttempts)
	cfg.KeyPrefix = cmp.Or(cfg.KeyPrefix, DefaultKeyPrefix)
	cfg.LoginTTL = cmp.Or(cfg.LoginTTL, DefaultLoginTTL)
	cfg.Journey.Overdue = cmp.Or(cfg.Journey.Overdue, DefaultOverdue)
}

// Validate reports the first thing wrong with cfg, after defaults.
func (cfg Config) Validate() error {
	cfg.setDefaults()
	for _, name := range cfg.Streams {
		if name == "" {
			return errors.New("ops config: a stream name is empty")
		}
	}
	if cfg.Partitions < 0 || cfg.Partitions > stream.MaxPartitions {
		return fmt.Errorf("ops config: Partitions %d is not between 1 and %d", cfg.Partitions, stream.MaxPartitions)
	}
	if cfg.LoginTTL < time.Minute {
		return fmt.Errorf("ops config: LoginTTL %v is shorter than a minute", cfg.LoginTTL)
	}
	return cfg.Journey.validate()
}

// Pages draws the pages of /ops in the shop's look: *storefront.Storefront
// implements it. ops decides what the pages say; Pages how they look.
type Pages interface {
	// RenderPage writes the full page template name (e.g. "ops.html")
	// with title in the shop's layout, its navigation at nav, with data.
	RenderPage(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any)
	// RenderFragment writes the fragment template name (e.g.
	// "ops-fragment") with data.
	RenderFragment(w http.ResponseWriter, r *http.Request, status int, name string, data any)
	// RenderError writes message as an error page, or as an error
	// fragment. It does not log.
	RenderError(w http.ResponseWriter, r *http.Request, status int, message string, fragment bool)
	// Guard gives h the protections of the shop's pages: security headers
	// and the refusal of cross-origin form posts.
	Guard(h http.Handler) http.Handler
}

// nav is the navigation entry of every page of /ops.
const nav = "ops"

// Ops serves /ops. Build it with New and hand its routes to a mux with
// Register. It is safe for concurrent use.
type Ops struct {
	rdb   redis.UniversalClient
	pages Pages
	cfg   Config
	log   *slog.Logger
	key   []byte // signs logins and form tokens; nil when /ops is closed
	rates *rateMeter
	// journeys asks about orders' journeys; nil without Config.Journey.
	journeys *journeyClient
}

// New returns Ops reading streams and keeping logins in rdb (nil: the
// page reports Redis as not configured, only the Bearer route opens it,
// and tries of the token are not limited) and drawing with pages.
func New(rdb redis.UniversalClient, pages Pages, cfg Config, log *slog.Logger) (*Ops, error) {
	if pages == nil || log == nil {
		return nil, errors.New("ops: pages and log are required")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := &Ops{rdb: rdb, pages: pages, cfg: cfg, log: log, rates: newRateMeter()}
	if cfg.OperatorToken != "" {
		o.key = signingKey(cfg.OperatorToken)
	}
	if cfg.Journey.enabled() {
		// Traced like the services' calls of each other, when the
		// gateway's request is.
		o.journeys = &journeyClient{cfg: cfg.Journey, client: &http.Client{Timeout: journeyTimeout, Transport: tracing.Transport(nil)}}
	}
	return o, nil
}

// Register calls mount with each of the routes of /ops:
//
//	GET  /ops              operations (operator token)
//	GET  /ops/fragment     its live part, polled every 2s
//	POST /ops/login        operator sign-in with the token
//	POST /ops/logout       sign-out (form token): the login is revoked
//	POST /ops/replay       replay a dead letter (form token)
//	GET  /ops/journey      an order's journey (?order=<id>), as its owners
//	                       tell it (Config.Journey)
//
// Each handler carries the shop's page protections (Pages.Guard). Every
// try of the operator token, by the sign-in form or a Bearer header,
// counts against one limit per client address (Config.LoginAttempts).
// Mount them behind web.WithClientIP, which decides the address that
// tries are counted by.
func (o *Ops) Register(mount func(pattern string, h http.Handler)) {
	page := func(h handlerFunc) http.Handler { return o.pages.Guard(o.authenticate(o.handle(h, false), false)) }
	mount("GET /ops", page(o.overview))
	mount("GET /ops/fragment", o.pages.Guard(o.authenticate(o.handle(o.fragment, true), true)))
	mount("POST /ops/login", o.pages.Guard(o.handle(o.login, false)))
	mount("POST /ops/logout", page(o.logout))
	mount("POST /ops/replay", page(o.replay))
	mount("GET /ops/journey", page(o.journey))
}

// handlerFunc is an /ops handler: it writes a page or returns an error for
// handle to show.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h: a returned error becomes an error page (or, for the
// fragment, an error fragment), logged once.
func (o *Ops) handle(h handlerFunc, fragment bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			o.fail(w, r, err, fragment)
		}
	})
}

// fail logs err once (web.LogError) and shows it with its status from
// the web layer's table: the message of an *errs.Error as it is,
// anything else as a generic 500.
func (o *Ops) fail(w http.ResponseWriter, r *http.Request, err error, fragment bool) {
	status, detail := web.Describe(err)
	web.LogError(o.log, r, status, err)
	msg := detail.Message
	if status == http.StatusInternalServerError {
		msg = "Something went wrong on our side. Please try again in a moment."
	}
	o.pages.RenderError(w, r, status, msg, fragment)
}

// showf returns an error of kind whose message, a sentence for the
// operator, is shown as it is; cause (may be nil) is only logged.
func showf(kind errs.Kind, cause error, format string, args ...any) error {
	e := errs.E(kind, "ops", format, args...)
	e.Err = cause
	return e
}
