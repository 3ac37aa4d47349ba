// Package storefront is streamcart's web shop: the dashboard with product
// search, the cart with Buy Now and the orders pages of the tutorial's
// app. Pages are rendered on the server with html/template; a small
// embedded script adds search as you type, add-to-cart without a reload,
// live order updates and the refresh of the operations page. There is no
// Node.js build.
//
// The shop holds templates, static files and pages only, no business
// logic and no Redis: it is a client of the gateway's public API
// (/api/v1), which it calls over HTTP with the browser's session cookie
// (Config.APIURL, Config.Client), passing a new or refreshed session
// cookie back to the browser. The browser's own script talks to the API
// only for the order event stream (/api/v1/orders/events) and its
// catch-up read.
//
// The operations page (package ops) owns its routes and data; the
// storefront only draws its pages in the shop's look, through RenderPage,
// RenderFragment, RenderError and Guard. The storefront imports no service
// package.
package storefront

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of Config.
const (
	// DefaultPageSize is the number of products on a dashboard page.
	DefaultPageSize = 12
	// DefaultAPITimeout bounds one API call of the default client.
	DefaultAPITimeout = 15 * time.Second
)

// Config configures a Storefront. APIURL is required.
type Config struct {
	// APIURL is the base URL of the gateway whose /api/v1 the shop calls,
	// e.g. "http://127.0.0.1:8080". With Client's Transport set to
	// InProcess, only its path matters.
	APIURL string
	// Client makes the API calls. Default: a client with a 15s timeout.
	Client *http.Client
	// PageSize is the number of products per dashboard page. Default 12.
	PageSize int
}

// Storefront serves the shop. Build it with New and serve Handler. It is
// safe for concurrent use.
type Storefront struct {
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	apiBase *url.URL
	pages   map[string]*template.Template
	assets  map[string]string // file name to its URL with a content version
	names   *nameCache
	handler http.Handler
}

// New returns a Storefront that calls the API at cfg.APIURL.
func New(cfg Config, log *slog.Logger) (*Storefront, error) {
	if log == nil {
		return nil, errors.New("storefront: log is required")
	}
	base, err := web.ParseBaseURL(cfg.APIURL)
	if err != nil {
		return nil, fmt.Errorf("storefront config: APIURL: %w", err)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultAPITimeout}
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	s := &Storefront{
		cfg:     cfg,
		log:     log,
		client:  cfg.Client,
		apiBase: base,
		names:   newNameCache(4096),
	}
	if s.assets, err = assetURLs(); err != nil {
		return nil, err
	}
	if s.pages, err = s.parseTemplates(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the storefront's HTTP handler. Routes:
//
//	GET  /                          dashboard: search, category, page
//	GET  /fragments/products        the dashboard's results, for search as you type
//	POST /cart/items                add a product (productId, qty)
//	GET  /cart                      the cart
//	POST /cart/items/{id}           set a line's qty
//	POST /cart/items/{id}/remove    remove a line
//	POST /cart/checkout             Buy Now: order the cart, then go to the order
//	GET  /orders, /orders/{id}      orders, updated live by the page's script
//	GET  /fragments/orders          the orders list, for orders that appear live
//	GET  /static/...                CSS and script
//
// Cross-origin POSTs are refused (http.CrossOriginProtection). Any other
// path gets the shop's 404 page.
func (s *Storefront) Handler() http.Handler { return s.handler }

func (s *Storefront) routes() http.Handler {
	mux := http.NewServeMux()
	page := func(pattern string, h handlerFunc) { mux.Handle(pattern, s.handle(h, false)) }
	fragment := func(pattern string, h handlerFunc) { mux.Handle(pattern, s.handle(h, true)) }

	page("GET /{$}", s.dashboard)
	fragment("GET /fragments/products", s.productsFragment)
	page("POST /cart/items", s.addToCart)
	page("GET /cart", s.cart)
	page("POST /cart/items/{id}", s.updateCartItem)
	page("POST /cart/items/{id}/remove", s.removeCartItem)
	page("POST /cart/checkout", s.checkout)
	page("GET /orders", s.orders)
	fragment("GET /fragments/orders", s.ordersFragment)
	page("GET /orders/{id}", s.orderDetail)

	static, _ := fs.Sub(staticFS, "static") // the directory is embedded
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	}))
	page("/", func(w http.ResponseWriter, r *http.Request) error {
		return errs.E(errs.KindNotFound, "", "There is no page at this address.")
	})

	return s.Guard(mux)
}

// Guard gives h the protections of the shop's pages: the security headers
// of securityHeaders, and the refusal of cross-origin form posts
// (http.CrossOriginProtection) with the shop's 403 page. The operations
// page's handlers get them this way too.
func (s *Storefront) Guard(h http.Handler) http.Handler {
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errs.E(errs.KindForbidden, "", "This form was sent from another site, so it was refused."), false)
	}))
	return securityHeaders(csrf.Handler(h))
}

// securityHeaders sets headers that every page gets. The pages load no
// inline script or style, so the policy allows only the shop's own files.
func securityHeaders(next http.Handler) http.Handler {
	const csp = "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; " +
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// handlerFunc is a storefront handler: it writes a page or returns an
// error for handle to show.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// refusal returns an error of kind whose message, a sentence for the
// shopper, is shown as it is; cause (may be nil) is only logged.
func refusal(kind errs.Kind, cause error, message string) *errs.Error {
	e := errs.E(kind, "", "%s", message)
	e.Err = cause
	return e
}

// handle adapts h: a returned error becomes an error page (or, for
// fragments, an error fragment), logged once.
func (s *Storefront) handle(h handlerFunc, fragment bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err, fragment)
		}
	})
}

// writeError shows err as an error page (or the error fragment) with its
// status and plain words (explain), and logs it once (web.LogError).
func (s *Storefront) writeError(w http.ResponseWriter, r *http.Request, err error, fragment bool) {
	status, msg := explain(err)
	web.LogError(s.log, r, status, err)
	s.RenderError(w, r, status, msg, fragment)
}

// RenderError writes message as the shop's error page with status, or as
// the error fragment. It does not log: whoever decided the error does.
func (s *Storefront) RenderError(w http.ResponseWriter, r *http.Request, status int, message string, fragment bool) {
	if fragment {
		s.render(w, r, status, "error-fragment", message)
		return
	}
	s.render(w, r, status, "error.html", s.layout("Something went wrong", "", -1, errorPage{Status: status, Message: message}))
}

// RenderPage writes the page template name (one of the templates
// directory's pages, such as "ops.html") with status, in the shop's layout
// with title and the navigation at nav ("shop", "cart", "orders" or
// "ops"). data is the page's .Data.
func (s *Storefront) RenderPage(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) {
	s.render(w, r, status, name, s.layout(title, nav, -1, data))
}

// RenderFragment writes the fragment template name (such as
// "ops-fragment") with status and data.
func (s *Storefront) RenderFragment(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	s.render(w, r, status, name, data)
}

// explain returns err's status (web.Describe) and what it means in
// plain words for its kind: the shop's own sentence for being rate
// limited, for a service that is down and for a fault of the server;
// else the error's message, as a sentence. An API's answer brings the
// API's message, or msgNotFound for not found (apiError.As).
func explain(err error) (status int, message string) {
	status, detail := web.Describe(err)
	switch k := web.Classify(err).Kind; {
	case k == errs.KindRateLimited:
		return status, msgRateLimited
	case down(k):
		return status, msgDown
	case k == errs.KindInternal:
		return status, msgSorry
	case detail.Message == "":
		return status, msgRefused
	}
	return status, sentence(detail.Message)
}

// down reports whether k means that a service is not answering.
func down(k errs.Kind) bool {
	return k == errs.KindUnavailable || k == errs.KindTimeout || k == errs.KindBadGateway
}

// Messages for failures that say nothing more specific.
const (
	msgDown        = "Part of the shop is not answering right now. Please try again in a moment."
	msgRateLimited = "That was a lot of requests in a short time. Wait a few seconds and try again."
	msgSorry       = "Something went wrong on our side. Please try again in a moment."
	msgRefused     = "The shop refused that request."
)

// sentence capitalizes msg and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// layout is what every full page gets.
type layout struct {
	Title     string
	Nav       string // "shop", "cart", "orders" or "ops"
	CartCount int    // -1 when unknown
	Assets    map[string]string
	Data      any
}

type errorPage struct {
	Status  int
	Message string
}

func (s *Storefront) layout(title, nav string, cartCount int, data any) layout {
	return layout{Title: title, Nav: nav, CartCount: cartCount, Assets: s.assets, Data: data}
}

// render executes the page or fragment name with data into a buffer and
// writes it with status, so that a template failure is a clean 500.
func (s *Storefront) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	t, ok := s.pages[name]
	var err error
	if !ok {
		err = fmt.Errorf("no template %q", name)
	} else {
		err = t.Execute(&buf, data)
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "render page failed", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// assetURLs returns each static file's URL with a version from its
// content, so browsers fetch a changed file at once.
func assetURLs() (map[string]string, error) {
	urls := map[string]string{}
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		name := strings.TrimPrefix(path, "static/")
		urls[name] = "/static/" + name + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	return urls, err
}

// nameCache remembers product names seen in API answers, so that the
// orders pages, whose history records carry only product ids, can name
// products without asking the API each time. It forgets everything when
// full: names are cheap to fetch again.
type nameCache struct {
	mu    sync.Mutex
	max   int
	names map[string]string
}

func newNameCache(max int) *nameCache {
	return &nameCache{max: max, names: map[string]string{}}
}

func (c *nameCache) get(id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.names[id]
	return n, ok
}

func (c *nameCache) put(id, name string) {
	if id == "" || name == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.names) >= c.max {
		clear(c.names)
	}
	c.names[id] = name
}
