package storefront

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"streamcart/internal/money"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// Input limits of the shop's forms; the API checks its own.
const (
	maxQueryRunes = 100
	maxQty        = 99
	maxPage       = 1000
	// orderListLimit is how many orders /orders shows.
	orderListLimit = 20
	// maxNameLookups bounds the product lookups of one page for names the
	// cache lacks; each counts against the shopper's rate limit.
	maxNameLookups = 12
)

// search is the dashboard's query.
type search struct {
	Q        string
	Category string
	Page     int
}

func parseSearch(r *http.Request) search {
	v := r.URL.Query()
	q := strings.TrimSpace(v.Get("q"))
	if utf8.RuneCountInString(q) > maxQueryRunes {
		q = string([]rune(q)[:maxQueryRunes])
	}
	page, err := strconv.Atoi(v.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	return search{Q: q, Category: strings.TrimSpace(v.Get("category")), Page: min(page, maxPage)}
}

// URL returns the dashboard's address for q at page.
func (q search) URL(page int) string {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Category != "" {
		v.Set("category", q.Category)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// results is a page of search results, or why there is none.
type results struct {
	search
	Products         []product
	Total            int
	Pages            int
	From, To         int
	PrevURL, NextURL string
	Err              string
}

type dashboardPage struct {
	Results    results
	Categories []category
}

// loadResults searches the catalog. A failure is logged and reported in
// the results, so that the page around them still renders, and returned
// for the page's status (pageStatus).
func (s *Storefront) loadResults(ctx context.Context, a *apiSession, q search) (results, error) {
	res := results{search: q}
	v := url.Values{"limit": {strconv.Itoa(s.cfg.PageSize)}, "offset": {strconv.Itoa((q.Page - 1) * s.cfg.PageSize)}}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Category != "" {
		v.Set("category", q.Category)
	}
	var p productPage
	if err := a.do(ctx, http.MethodGet, "/api/v1/products?"+v.Encode(), nil, &p); err != nil {
		_, res.Err = s.failed(a.in, "search products", err)
		return res, err
	}
	for _, pr := range p.Products {
		s.names.put(pr.ID, pr.DisplayName)
	}
	res.Products, res.Total = p.Products, p.Total
	res.Pages = max(1, (p.Total+s.cfg.PageSize-1)/s.cfg.PageSize)
	if len(p.Products) > 0 {
		res.From, res.To = p.Offset+1, p.Offset+len(p.Products)
	}
	if q.Page > 1 {
		res.PrevURL = q.URL(min(q.Page-1, res.Pages))
	}
	if q.Page < res.Pages {
		res.NextURL = q.URL(q.Page + 1)
	}
	return res, nil
}

// failed logs err, the failure of the page's call to the API, once
// (web.LogError) and returns its status and plain words (explain) for the
// page to show.
func (s *Storefront) failed(r *http.Request, call string, err error) (status int, message string) {
	status, message = explain(err)
	web.LogError(s.log, r, status, fmt.Errorf("%s: %w", call, err))
	return status, message
}

// pageStatus is the status of a page whose data failed to load with err,
// or 200 when err is nil.
func pageStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return web.StatusOf(err)
}

// dashboard serves GET /.
func (s *Storefront) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a := s.api(w, r)
	res, err := s.loadResults(ctx, a, parseSearch(r))
	var cats struct {
		Categories []category `json:"categories"`
	}
	if err == nil {
		if err := a.do(ctx, http.MethodGet, "/api/v1/categories", nil, &cats); err != nil {
			s.log.WarnContext(ctx, "storefront could not list categories", "err", err)
		}
	}
	count := s.cartCount(ctx, a, err)
	s.render(w, r, pageStatus(err), "dashboard.html", s.layout("Shop", "shop", count, dashboardPage{Results: res, Categories: cats.Categories}))
	return nil
}

// productsFragment serves GET /fragments/products: the results alone.
func (s *Storefront) productsFragment(w http.ResponseWriter, r *http.Request) error {
	res, err := s.loadResults(r.Context(), s.api(w, r), parseSearch(r))
	s.render(w, r, pageStatus(err), "results-fragment", res)
	return nil
}

// cartCount returns the number of pieces in the cart, or -1 when it cannot
// be read. It does not ask when an earlier call of the page (failed) was
// rate limited, met a service that is down or failed on our side: this
// call would most likely fail the same way.
func (s *Storefront) cartCount(ctx context.Context, a *apiSession, failed error) int {
	if failed != nil {
		if k := web.Classify(failed).Kind; k == errs.KindRateLimited || k == errs.KindInternal || down(k) {
			return -1
		}
	}
	if a.anonymous() {
		return 0
	}
	var c cartView
	if err := a.do(ctx, http.MethodGet, "/api/v1/cart", nil, &c); err != nil {
		if errors.Is(err, errNoSession) {
			return 0
		}
		return -1
	}
	return c.count()
}

// parseQty reads a quantity from 1 to 99.
func parseQty(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil && n >= 1 && n <= maxQty
}

// wantsJSON reports whether the page's script sent the form and wants a
// JSON answer instead of a redirect.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// localPath returns p if it is a path on this site, else "/".
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	return p
}

// addToCart serves POST /cart/items: productId, qty (default 1) added to
// what the cart has, up to 99. The page's script gets JSON; a form without
// script is sent back to the page it came from.
func (s *Storefront) addToCart(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PostFormValue("productId")
	add := 1
	if v := r.PostFormValue("qty"); v != "" {
		var ok bool
		if add, ok = parseQty(v); !ok {
			return s.addFailed(w, r, errs.E(errs.KindInvalid, "", "Choose a quantity from 1 to 99."))
		}
	}
	if !web.ValidID(id) {
		return s.addFailed(w, r, errs.E(errs.KindInvalid, "", "That is not a product of this shop."))
	}
	a := s.api(w, r)
	var c cartView
	if !a.anonymous() {
		if err := a.do(ctx, http.MethodGet, "/api/v1/cart", nil, &c); err != nil && !errors.Is(err, errNoSession) {
			return s.addFailed(w, r, err)
		}
	}
	qty := add
	for _, it := range c.Items {
		if it.ProductID == id {
			qty = min(it.Qty+add, maxQty)
		}
	}
	if err := a.do(ctx, http.MethodPut, "/api/v1/cart/items/"+id, map[string]int{"qty": qty}, &c); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == "unknown_product" {
			err = refusal(ae.Kind, err, "Sorry, this product is no longer sold.")
		}
		return s.addFailed(w, r, err)
	}
	name := "The product"
	for _, it := range c.Items {
		s.names.put(it.ProductID, it.DisplayName)
		if it.ProductID == id && it.DisplayName != "" {
			name = it.DisplayName
		}
	}
	if wantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]any{"cartCount": c.count(), "message": name + " is in your cart (" + strconv.Itoa(qty) + ")."})
		return nil
	}
	http.Redirect(w, r, localPath(r.PostFormValue("return")), http.StatusSeeOther)
	return nil
}

// addFailed answers a failed add to cart: JSON for the script, else an
// error page.
func (s *Storefront) addFailed(w http.ResponseWriter, r *http.Request, err error) error {
	if !wantsJSON(r) {
		return err
	}
	status, msg := s.failed(r, "add to cart", err)
	web.WriteJSON(w, status, map[string]string{"error": msg})
	return nil
}

// cartLine is a line of the cart page.
type cartLine struct {
	ProductID  string
	Name       string
	ImageURL   string
	PriceCents int64
	Qty        int
	LineCents  int64
	Available  bool
}

type cartPage struct {
	Lines      []cartLine
	TotalCents int64
	Count      int
	// Buyable is false when a line cannot be ordered.
	Buyable bool
	// Loaded is false when the cart could not be read.
	Loaded bool
	Error  string
	Notice string
}

func newCartPage(c cartView) cartPage {
	p := cartPage{TotalCents: c.TotalCents, Count: c.count(), Loaded: true, Buyable: len(c.Items) > 0}
	for _, it := range c.Items {
		name := it.DisplayName
		if name == "" {
			name = "Product " + it.ProductID
		}
		p.Lines = append(p.Lines, cartLine{
			ProductID: it.ProductID, Name: name, ImageURL: it.ImageURL, PriceCents: it.PriceCents,
			Qty: it.Qty, LineCents: it.LineCents, Available: it.Available,
		})
		if !it.Available {
			p.Buyable = false
		}
	}
	return p
}

// cart serves GET /cart.
func (s *Storefront) cart(w http.ResponseWriter, r *http.Request) error {
	p, err := s.loadCart(r.Context(), s.api(w, r))
	s.renderCart(w, r, pageStatus(err), p)
	return nil
}

// loadCart reads the cart for its page. A failure is logged, shown on
// the page and returned for the page's status (pageStatus).
func (s *Storefront) loadCart(ctx context.Context, a *apiSession) (cartPage, error) {
	var c cartView
	if a.anonymous() {
		return newCartPage(c), nil
	}
	if err := a.do(ctx, http.MethodGet, "/api/v1/cart", nil, &c); errors.Is(err, errNoSession) {
		return newCartPage(c), nil
	} else if err != nil {
		var p cartPage
		_, p.Error = s.failed(a.in, "load cart", err)
		return p, err
	}
	for _, it := range c.Items {
		s.names.put(it.ProductID, it.DisplayName)
	}
	return newCartPage(c), nil
}

func (s *Storefront) renderCart(w http.ResponseWriter, r *http.Request, status int, p cartPage) {
	count := -1
	if p.Loaded {
		count = p.Count
	}
	s.render(w, r, status, "cart.html", s.layout("Your cart", "cart", count, p))
}

// cartChanged ends a change of the cart: when it failed with err, it
// shows the cart again with what went wrong; else it sends the browser to
// the cart.
func (s *Storefront) cartChanged(w http.ResponseWriter, r *http.Request, a *apiSession, err error) error {
	if err == nil {
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
		return nil
	}
	status, msg := s.failed(r, "change cart", err)
	p, _ := s.loadCart(r.Context(), a)
	p.Error = msg
	s.renderCart(w, r, status, p)
	return nil
}

// cartItemPath is the API path of the cart item of a /cart/items/{id}
// request, or a not found error when {id} cannot be a product's.
func cartItemPath(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !web.ValidID(id) {
		return "", errs.E(errs.KindNotFound, "", "That product is not in your cart.")
	}
	return "/api/v1/cart/items/" + id, nil
}

// updateCartItem serves POST /cart/items/{id}: qty from 1 to 99.
func (s *Storefront) updateCartItem(w http.ResponseWriter, r *http.Request) error {
	path, err := cartItemPath(r)
	if err != nil {
		return err
	}
	a := s.api(w, r)
	qty, ok := parseQty(r.PostFormValue("qty"))
	if !ok {
		return s.cartChanged(w, r, a, errs.E(errs.KindInvalid, "", "Choose a quantity from 1 to 99."))
	}
	err = a.do(r.Context(), http.MethodPut, path, map[string]int{"qty": qty}, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "unknown_product" {
		err = refusal(ae.Kind, err, "That product is no longer sold; remove it from your cart.")
	}
	return s.cartChanged(w, r, a, err)
}

// removeCartItem serves POST /cart/items/{id}/remove.
func (s *Storefront) removeCartItem(w http.ResponseWriter, r *http.Request) error {
	path, err := cartItemPath(r)
	if err != nil {
		return err
	}
	a := s.api(w, r)
	return s.cartChanged(w, r, a, a.do(r.Context(), http.MethodDelete, path, nil, nil))
}

// checkout serves POST /cart/checkout (Buy Now): it orders the cart and
// sends the browser to the order. On failure it shows the cart again,
// read anew (which records the current prices, so that pressing Buy Now
// again orders at them), with the reason in plain words. The form carries
// the prices the shopper saw ("seen", productId:cents), to name the
// products whose price changed.
func (s *Storefront) checkout(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return refusal(errs.KindInvalid, err, "This form could not be read; reload the cart and try again.")
	}
	a := s.api(w, r)
	var o order
	err := a.do(ctx, http.MethodPost, "/api/v1/cart/checkout", nil, &o)
	if err == nil && web.ValidID(o.OrderID) {
		http.Redirect(w, r, "/orders/"+o.OrderID, http.StatusSeeOther)
		return nil
	}
	if err == nil {
		err = fmt.Errorf("checkout answer has no order id")
	}
	status, msg := s.failed(r, "checkout", err)
	p, loadErr := s.loadCart(ctx, a)
	var ae *apiError
	if errors.As(err, &ae) && loadErr == nil {
		msg = checkoutMessage(ae, p, seenPrices(r), msg)
	}
	p.Error = msg
	s.renderCart(w, r, status, p)
	return nil
}

// seenPrices reads the form's "seen" fields, productId:cents.
func seenPrices(r *http.Request) map[string]int64 {
	seen := map[string]int64{}
	for _, v := range r.PostForm["seen"] {
		id, cents, ok := strings.Cut(v, ":")
		if n, err := strconv.ParseInt(cents, 10, 64); ok && err == nil {
			seen[id] = n
		}
	}
	return seen
}

// checkoutMessage explains a refused checkout with the cart as it is now.
func checkoutMessage(e *apiError, now cartPage, seen map[string]int64, fallback string) string {
	var parts []string
	switch e.Code {
	case "price_changed":
		for _, l := range now.Lines {
			if was, ok := seen[l.ProductID]; ok && l.Available && was != l.PriceCents {
				parts = append(parts, fmt.Sprintf("The price of %s changed to %s; review your cart.", l.Name, formatMoney(l.PriceCents)))
			}
		}
		if len(parts) == 0 {
			return "A price in your cart changed; review your cart and press Buy Now again."
		}
	case "unknown_product":
		for _, l := range now.Lines {
			if !l.Available {
				parts = append(parts, fmt.Sprintf("%s is no longer sold; remove it from your cart.", l.Name))
			}
		}
		if len(parts) == 0 {
			return "A product in your cart is no longer sold; remove it to continue."
		}
	case "empty_cart":
		return "Your cart is empty. Add a product first."
	case "total_too_large":
		return "This order is too large to take; lower some quantities."
	default:
		if e.Kind == errs.KindUnavailable {
			return "We could not place your order because part of the shop is down. Your cart is saved; please try again in a moment."
		}
		return fallback
	}
	return strings.Join(parts, " ")
}

// orderLine is a line of an order card.
type orderLine struct {
	ProductID  string
	Name       string
	Qty        int
	PriceCents int64
	LineCents  int64
}

// orderCard is an order as the orders pages show it.
type orderCard struct {
	ID          string
	Status      int
	StatusName  string
	AmountCents int64
	PaymentID   string
	Created     time.Time
	Lines       []orderLine
	// Scored is true once the identity service scored the order.
	Scored         bool
	IdentityScore  float64
	PotentialFraud bool
}

// rank orders statuses along an order's life: payment outcomes last.
func rank(status int) int {
	if status == 4 || status == -4 {
		return 100
	}
	return status
}

func (s *Storefront) cardFromHistory(h historyOrder, names map[string]string) orderCard {
	c := h.card()
	if h.CreatedOn != nil {
		c.Created = *h.CreatedOn
	}
	c.setIdentity(h)
	for _, it := range h.Items {
		line, err := money.Mul(it.PriceCents, int64(it.Qty))
		if err != nil {
			line = 0
		}
		c.Lines = append(c.Lines, orderLine{ProductID: it.ProductID, Name: names[it.ProductID], Qty: it.Qty, PriceCents: it.PriceCents, LineCents: line})
	}
	return c
}

func (c *orderCard) setIdentity(h historyOrder) {
	if h.IdentityScore != nil {
		c.Scored, c.IdentityScore, c.PotentialFraud = true, *h.IdentityScore, h.PotentialFraud
	}
}

// productNames names products: from the cache, else by asking the API for
// up to maxNameLookups of them. An unnamed product is "Product <id>".
func (s *Storefront) productNames(ctx context.Context, a *apiSession, ids []string) map[string]string {
	names := map[string]string{}
	lookups := 0
	for _, id := range ids {
		if _, ok := names[id]; ok {
			continue
		}
		if n, ok := s.names.get(id); ok {
			names[id] = n
			continue
		}
		names[id] = "Product " + id
		if lookups >= maxNameLookups || !web.ValidID(id) {
			continue
		}
		lookups++
		var p product
		if err := a.do(ctx, http.MethodGet, "/api/v1/products/"+id, nil, &p); err == nil && p.DisplayName != "" {
			s.names.put(id, p.DisplayName)
			names[id] = p.DisplayName
		}
	}
	return names
}

type ordersPage struct {
	Orders []orderCard
	Error  string
}

// loadOrders reads the shopper's latest orders from the history.
func (s *Storefront) loadOrders(ctx context.Context, a *apiSession) ([]orderCard, error) {
	var h struct {
		Orders []historyOrder `json:"orders"`
	}
	if a.anonymous() {
		return nil, nil
	}
	if err := a.do(ctx, http.MethodGet, "/api/v1/orders?limit="+strconv.Itoa(orderListLimit), nil, &h); errors.Is(err, errNoSession) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var ids []string
	for _, o := range h.Orders {
		for _, it := range o.Items {
			ids = append(ids, it.ProductID)
		}
	}
	names := s.productNames(ctx, a, ids)
	cards := make([]orderCard, len(h.Orders))
	for i, o := range h.Orders {
		cards[i] = s.cardFromHistory(o, names)
	}
	return cards, nil
}

// orders serves GET /orders.
func (s *Storefront) orders(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a := s.api(w, r)
	status := http.StatusOK
	var p ordersPage
	var err error
	if p.Orders, err = s.loadOrders(ctx, a); err != nil {
		status, p.Error = s.failed(r, "list orders", err)
	}
	s.render(w, r, status, "orders.html", s.layout("Your orders", "orders", s.cartCount(ctx, a, err), p))
	return nil
}

// ordersFragment serves GET /fragments/orders: the list alone.
func (s *Storefront) ordersFragment(w http.ResponseWriter, r *http.Request) error {
	cards, err := s.loadOrders(r.Context(), s.api(w, r))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "orders-fragment", ordersPage{Orders: cards})
	return nil
}

type orderPage struct {
	Order orderCard
}

// orderDetail serves GET /orders/{id}: the order from the orders service,
// with the identity score from the history when it has one.
func (s *Storefront) orderDetail(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if !web.ValidID(id) {
		return errs.E(errs.KindNotFound, "", "We could not find that order.")
	}
	a := s.api(w, r)
	var o order
	if a.anonymous() {
		return errs.E(errs.KindNotFound, "", "We could not find that order. It may belong to another session.")
	}
	if err := a.do(ctx, http.MethodGet, "/api/v1/orders/"+id, nil, &o); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Kind == errs.KindNotFound || errors.Is(err, errNoSession) {
			return refusal(errs.KindNotFound, err, "We could not find that order. It may belong to another session.")
		}
		return err
	}
	c := o.card()
	c.Created = o.CreatedAt
	for _, it := range o.Items {
		name := it.DisplayName
		if name == "" {
			name = "Product " + it.ProductID
		}
		s.names.put(it.ProductID, it.DisplayName)
		c.Lines = append(c.Lines, orderLine{ProductID: it.ProductID, Name: name, Qty: it.Qty, PriceCents: it.PriceCents, LineCents: it.LineCents})
	}
	var h struct {
		Orders []historyOrder `json:"orders"`
	}
	if err := a.do(ctx, http.MethodGet, "/api/v1/orders", nil, &h); err == nil {
		if i := slices.IndexFunc(h.Orders, func(ho historyOrder) bool { return ho.OrderID == id }); i >= 0 {
			ho := h.Orders[i]
			c.setIdentity(ho)
			if rank(ho.Status) > rank(c.Status) {
				c.Status, c.StatusName = ho.Status, ho.StatusName
				c.PaymentID = ho.PaymentID
			}
		}
	}
	count := s.cartCount(ctx, a, nil)
	s.render(w, r, http.StatusOK, "order.html", s.layout("Order "+shortID(id), "orders", count, orderPage{Order: c}))
	return nil
}

// shortID is the last 8 characters of id, for titles.
func shortID(id string) string {
	if len(id) <= 8 {
		return id
	}
	return id[len(id)-8:]
}

// formatMoney formats cents as dollars: "$1,234.50".
func formatMoney(cents int64) string {
	s := money.Format(cents)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac == "" {
		frac = "00"
	}
	return sign + "$" + b.String() + "." + frac
}
