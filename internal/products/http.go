package products

import (
	"net/http"
	"strconv"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/web"
)

// NewHandler returns the service's route table (auth.Routes), whose
// identities signer checks: reads take any caller's (the gateway's, for a
// shopper or an anonymous reader, or a service's), the catalog write only
// an operator's.
//
//	GET   /products?q=&category=&limit=&offset=  any caller: search active products
//	GET   /products/{id}                         any caller: one product, active or not
//	GET   /products/{id}/image.svg               any caller: its generated image
//	POST  /products/lookup {"ids": [...]}        any caller: active products by id, for pricing
//	PATCH /products/{id} {"priceCents", "active", "displayName"}  operator: update
//	GET   /categories                            any caller: categories with product counts
//	GET   /snapshot?after=&limit=                a service or an operator: a page of every product, with versions
//	GET   /readyz                                ready when PostgreSQL and Redis (when it caches) answer
//
// The errors are invalid_limit and invalid_offset for a bad page,
// invalid_request for a query or body that breaks a rule, invalid_query
// and invalid_path for a URL that is not text (web.CheckURL), and
// not_found for an unknown product. Request bodies are JSON of at most
// 64 KiB (maxBody) with no unknown fields.
func NewHandler(svc *Service, signer *auth.Signer) *auth.Routes {
	h := &handler{svc: svc}
	checks := map[string]web.Check{"postgres": svc.store.ping}
	if svc.cache.rdb != nil {
		checks["redis"] = svc.cache.ping
	}
	rt := auth.NewRoutes(signer, svc.log, checks)
	rt.HandleFunc("GET /products", auth.AnyCaller, h.search)
	rt.HandleFunc("GET /products/{id}", auth.AnyCaller, web.GetByID("id", svc.Get))
	rt.HandleFunc("GET /products/{id}/image.svg", auth.AnyCaller, h.image)
	rt.HandleFunc("POST /products/lookup", auth.AnyCaller, h.lookup)
	rt.HandleFunc("PATCH /products/{id}", auth.Operator, h.update)
	rt.HandleFunc("GET /categories", auth.AnyCaller, h.categories)
	rt.HandleFunc("GET /snapshot", auth.ServiceOrOperator, h.snapshot)
	return rt
}

// maxBody is the largest request body accepted.
const maxBody = 64 << 10

type handler struct{ svc *Service }

// parseSearch reads GET /products's query: q, category, limit and
// offset, normalized (Query.normalize). Its errors are Invalid.
func parseSearch(r *http.Request) (Query, error) {
	v := r.URL.Query()
	q := Query{Q: v.Get("q"), Category: v.Get("category")}
	var err error
	if q.Limit, err = web.IntQuery(r, "limit", DefaultLimit, 1, MaxLimit); err != nil {
		return Query{}, err
	}
	if q.Offset, err = web.IntQuery(r, "offset", 0, 0, MaxOffset); err != nil {
		return Query{}, err
	}
	return q.normalize()
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) error {
	q, err := parseSearch(r)
	if err != nil {
		return err
	}
	page, err := h.svc.SearchJSON(r.Context(), q)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	// page is shared with every search the cache serves it to: it is
	// written as it is, never appended to. An error means the client went
	// away; there is nothing to do.
	_, _ = w.Write(page)
	_, _ = w.Write(newline)
	return nil
}

var newline = []byte{'\n'}

// product returns the product the request's path names, active or not.
func (h *handler) product(r *http.Request) (Product, error) {
	id, err := web.PathID(r, "id")
	if err != nil {
		return Product{}, err
	}
	return h.svc.Get(r.Context(), id)
}

// image serves the product's SVG. Browsers and the gateway may keep it a
// day; the ETag lets them revalidate cheaply after that.
func (h *handler) image(w http.ResponseWriter, r *http.Request) error {
	p, err := h.product(r)
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

// productsResponse is the body of POST /products/lookup's response: each
// product with its version.
type productsResponse struct {
	Products []Versioned `json:"products"`
}

func (h *handler) lookup(w http.ResponseWriter, r *http.Request) error {
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

func (h *handler) update(w http.ResponseWriter, r *http.Request) error {
	id, err := web.PathID(r, "id")
	if err != nil {
		return err
	}
	var p Patch
	if err := web.DecodeJSON(r, maxBody, &p); err != nil {
		return err
	}
	prod, err := h.svc.Update(r.Context(), id, p)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, prod)
	return nil
}

func (h *handler) snapshot(w http.ResponseWriter, r *http.Request) error {
	limit, err := web.IntQuery(r, "limit", MaxSnapshotPage, 1, MaxSnapshotPage)
	if err != nil {
		return err
	}
	page, err := h.svc.Snapshot(r.Context(), r.URL.Query().Get("after"), limit)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, page)
	return nil
}

// categoriesResponse is the body of GET /categories.
type categoriesResponse struct {
	Categories []Category `json:"categories"`
}

func (h *handler) categories(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.Categories(r.Context())
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, categoriesResponse{Categories: cs})
	return nil
}
