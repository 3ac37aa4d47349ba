package products

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/web"
)

// maxBody is the largest request body accepted.
const maxBody = 64 << 10

// NewHandler returns the service's HTTP API:
//
//	GET   /products?q=&category=&limit=&offset=  search active products
//	GET   /products/{id}                         one product, active or not
//	GET   /products/{id}/image.svg               its generated image
//	POST  /products/lookup {"ids": [...]}        active products by id, for pricing
//	PATCH /products/{id} {"priceCents", "active", "displayName"}  operator update
//	GET   /categories                            categories with product counts
//	GET   /healthz, /readyz                      liveness; Postgres and Redis readiness
//
// Errors are JSON {"error": {"code", "message"}}. Request bodies are JSON
// of at most 64 KiB with no unknown fields.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	h := handlers{svc: svc}
	mux := http.NewServeMux()
	handle := func(pattern string, f web.HandlerFunc) {
		mux.Handle(pattern, web.Handle(log, func(w http.ResponseWriter, r *http.Request) error {
			return httpError(f(w, r))
		}))
	}
	handle("GET /products", h.search)
	handle("GET /products/{id}", h.get)
	handle("GET /products/{id}/image.svg", h.image)
	handle("POST /products/lookup", h.lookup)
	handle("PATCH /products/{id}", h.update)
	handle("GET /categories", h.categories)
	checks := map[string]web.Check{"postgres": svc.store.ping}
	if svc.cache.rdb != nil {
		checks["redis"] = svc.cache.ping
	}
	web.CatchAll(mux)
	web.Health(mux, checks)
	return web.WithRequestID(web.AccessLog(log, mux))
}

// httpError maps the service's errors to web errors. It is the only place
// that does.
func httpError(err error) error {
	var (
		verr *ValidationError
		werr *errs.Error
	)
	switch {
	case err == nil, errors.As(err, &werr):
		return err
	case errors.As(err, &verr):
		return errs.Invalid("invalid_request", "%s", verr.Error())
	case errors.Is(err, ErrNotFound):
		return errs.NotFound("", "%s", err.Error())
	case postgres.IsUnavailable(err):
		return errs.Unavailable(err, "the product catalog is unavailable; try again later")
	default:
		return err
	}
}

type handlers struct {
	svc *Service
}

func (h handlers) search(w http.ResponseWriter, r *http.Request) error {
	params := r.URL.Query()
	q := Query{Q: params.Get("q"), Category: params.Get("category")}
	var err error
	if q.Limit, err = intParam(params, "limit", DefaultLimit, 1, MaxLimit); err != nil {
		return err
	}
	if q.Offset, err = intParam(params, "offset", 0, 0, MaxOffset); err != nil {
		return err
	}
	page, err := h.svc.SearchJSON(r.Context(), q)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(append(page, '\n')) // the client went away; nothing to do
	return nil
}

// intParam parses the query parameter name: def when absent, else an
// integer from min to max.
func intParam(params url.Values, name string, def, min, max int) (int, error) {
	s := params.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, invalid(name, "must be an integer from %d to %d, not %q", min, max, s)
	}
	return n, nil
}

func (h handlers) get(w http.ResponseWriter, r *http.Request) error {
	p, err := h.svc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, p)
	return nil
}

// image serves the product's SVG. Browsers and the gateway may keep it a
// day; the ETag lets them revalidate cheaply after that.
func (h handlers) image(w http.ResponseWriter, r *http.Request) error {
	p, err := h.svc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	svg := Image(p)
	etag := imageETag(svg)
	hdr := w.Header()
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "public, max-age=86400")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// An SVG opened directly is a document; allow it nothing but its own
	// inline styling.
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if match := r.Header.Get("If-None-Match"); match != "" && (match == etag || match == "*") {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hdr.Set("Content-Type", "image/svg+xml")
	hdr.Set("Content-Length", strconv.Itoa(len(svg)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(svg) // the client went away; nothing to do
	}
	return nil
}

// lookupRequest is the body of POST /products/lookup.
type lookupRequest struct {
	IDs []string `json:"ids"`
}

// productsResponse is the body of POST /products/lookup's response.
type productsResponse struct {
	Products []Product `json:"products"`
}

func (h handlers) lookup(w http.ResponseWriter, r *http.Request) error {
	var req lookupRequest
	if err := web.DecodeJSON(r, maxBody, &req); err != nil {
		return err
	}
	ps, err := h.svc.Lookup(r.Context(), req.IDs)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, productsResponse{Products: ps})
	return nil
}

func (h handlers) update(w http.ResponseWriter, r *http.Request) error {
	var p Patch
	if err := web.DecodeJSON(r, maxBody, &p); err != nil {
		return err
	}
	prod, err := h.svc.Update(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, prod)
	return nil
}

// categoriesResponse is the body of GET /categories.
type categoriesResponse struct {
	Categories []Category `json:"categories"`
}

func (h handlers) categories(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.Categories(r.Context())
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, categoriesResponse{Categories: cs})
	return nil
}
