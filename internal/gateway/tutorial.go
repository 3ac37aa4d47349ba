package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"streamcart/internal/cart"
	"streamcart/internal/money"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// Paths of the tutorial app's API.
const (
	tutorialProductsPath    = "/products/getProductsByFilter"
	tutorialCreateOrderPath = "/orders/createOrder"
	tutorialHistoryPath     = "/orderHistory/viewOrderHistory"
)

// tutorialMaxProducts caps getProductsByFilter's answer, as the
// tutorial's own service did.
const tutorialMaxProducts = 1000

// tutorialMaxNameLen bounds getProductsByFilter's productDisplayName: the
// products service's limit on a search text, in bytes.
const tutorialMaxNameLen = 200

func isTutorialPath(p string) bool {
	return p == tutorialProductsPath || p == tutorialCreateOrderPath || p == tutorialHistoryPath
}

// envelope is the body of every tutorial API response.
type envelope struct {
	Data  any              `json:"data"`
	Error *web.ErrorDetail `json:"error"`
	Auth  string           `json:"auth"`
}

// tutorialFunc is a tutorial API handler: it returns the envelope's data.
type tutorialFunc func(r *http.Request) (any, error)

// tutorial adapts h to http.Handler, writing its data or error in the
// envelope with the session token.
func (g *Gateway) tutorial(h tutorialFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := h(r)
		g.writeEnvelope(w, r, data, err)
	})
}

// writeEnvelope writes data, or err with its status, in the envelope, and
// logs err as web.Handle does.
func (g *Gateway) writeEnvelope(w http.ResponseWriter, r *http.Request, data any, err error) {
	env := envelope{Data: data}
	if s, ok := sessionFrom(r.Context()); ok {
		env.Auth = s.Token
		w.Header().Set("Cache-Control", "no-store") // the envelope holds the token
	}
	status := http.StatusOK
	if err != nil {
		var detail web.ErrorDetail
		status, detail = web.Describe(err)
		web.LogError(g.log, r, status, err)
		env.Data, env.Error = nil, &detail
	}
	web.WriteJSON(w, status, env)
}

// tutorialJSON is how the tutorial routes read bodies. Unlike the /api/v1
// routes they take any Content-Type or none and an empty body (which
// leaves the request's fields empty), and ignore unknown fields, as the
// tutorial's clients send them; numbers arrive as json.Number. Like every
// route they take one JSON value of UTF-8 text without NUL, and nothing
// after it.
func tutorialJSON(maxBody int64) web.JSONRules {
	return web.JSONRules{MaxBytes: maxBody, AnyContentType: true, EmptyOK: true, UnknownFields: true, UseNumber: true}
}

// decodeLenient reads the request's JSON body into v by tutorialJSON.
func decodeLenient(r *http.Request, maxBody int64, v any) error {
	return web.DecodeJSONBody(r, tutorialJSON(maxBody), v)
}

// tutorialProduct is a product in the tutorial's shape.
type tutorialProduct struct {
	ProductID string              `json:"productId"`
	Data      tutorialProductData `json:"data"`
}

type tutorialProductData struct {
	ID                 string      `json:"id"`
	Price              json.Number `json:"price"`
	ProductDisplayName string      `json:"productDisplayName"`
	VariantName        string      `json:"variantName"`
	BrandName          string      `json:"brandName"`
	AgeGroup           string      `json:"ageGroup"`
	Gender             string      `json:"gender"`
	DisplayCategories  string      `json:"displayCategories"`
	MasterCategory     typeName    `json:"masterCategory"`
	SubCategory        typeName    `json:"subCategory"`
	ArticleType        typeName    `json:"articleType"`
	StyleImages        struct {
		Default struct {
			ImageURL string `json:"imageURL"`
		} `json:"default"`
	} `json:"styleImages"`
	ProductDescriptors struct {
		Description struct {
			Value string `json:"value"`
		} `json:"description"`
	} `json:"productDescriptors"`
}

type typeName struct {
	TypeName string `json:"typeName"`
}

// imageURL is a product's image on the gateway's API, under base (see
// publicBase).
func imageURL(base, productID string) string {
	return base + "/api/v1/products/" + productID + "/image.svg"
}

// publicBase returns the scheme and host at which clients reach the
// gateway, for the absolute URLs of tutorial responses (the tutorial's
// client shows imageURL on its own origin): Config.PublicURL when it is
// set; else http, or https for a request over TLS, and the request's
// Host. Behind a trusted proxy (Config.TrustProxy) its X-Forwarded-Proto
// (http or https) and X-Forwarded-Host, when sane, take their place. A
// host that is not a plain host[:port] gives "": the URLs stay relative.
func (g *Gateway) publicBase(r *http.Request) string {
	if g.cfg.PublicURL != "" {
		return g.cfg.PublicURL
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if g.cfg.TrustProxy {
		if p := lastEntry(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := lastEntry(r.Header.Get("X-Forwarded-Host")); plainHost(h) {
			host = h
		}
	}
	if !plainHost(host) {
		return ""
	}
	return scheme + "://" + host
}

// lastEntry is the rightmost entry of a comma-separated header value:
// the one the proxy in front added.
func lastEntry(v string) string {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// plainHost reports whether h is a host name or address with an optional
// port, and nothing else that would change a URL built with it.
func plainHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_:[]", c) >= 0) {
			return false
		}
	}
	return true
}

// units returns cents as a JSON number of currency units: 3999 → 39.99,
// made from the integer, never through floating point.
func units(cents int64) json.Number { return json.Number(money.Format(cents)) }

// toTutorialData is p in the tutorial's shape, its image under base.
func toTutorialData(p product, base string) tutorialProductData {
	d := tutorialProductData{
		ID:                 p.ID,
		Price:              units(p.PriceCents),
		ProductDisplayName: p.DisplayName,
		VariantName:        p.VariantName,
		BrandName:          p.Brand,
		AgeGroup:           p.AgeGroup,
		Gender:             p.Gender,
		DisplayCategories:  p.MasterCategory,
		MasterCategory:     typeName{p.MasterCategory},
		SubCategory:        typeName{p.SubCategory},
		ArticleType:        typeName{p.ArticleType},
	}
	d.StyleImages.Default.ImageURL = imageURL(base, p.ID)
	d.ProductDescriptors.Description.Value = p.Description
	return d
}

// tutorialProducts serves POST /products/getProductsByFilter
// {"productDisplayName": "puma"}: up to tutorialMaxProducts matching
// products, all when the name is empty.
func (g *Gateway) tutorialProducts(r *http.Request) (any, error) {
	name, err := parseProductFilter(r, g.cfg.MaxBody)
	if err != nil {
		return nil, err
	}
	ps, err := g.searchProducts(r.Context(), name, tutorialMaxProducts)
	if err != nil {
		return nil, err
	}
	base := g.publicBase(r)
	out := make([]tutorialProduct, len(ps))
	for i, p := range ps {
		out[i] = tutorialProduct{ProductID: p.ID, Data: toTutorialData(p, base)}
	}
	return out, nil
}

// parseProductFilter reads getProductsByFilter's body: the product name
// to search for, trimmed, "" for every product.
func parseProductFilter(r *http.Request, maxBody int64) (string, error) {
	var req struct {
		ProductDisplayName string `json:"productDisplayName"`
	}
	if err := decodeLenient(r, maxBody, &req); err != nil {
		return "", err
	}
	name := strings.TrimSpace(req.ProductDisplayName)
	if err := web.CheckText("productDisplayName", name, tutorialMaxNameLen); err != nil {
		return "", err
	}
	return name, nil
}

// tutorialOrderLine is a line of createOrder. Qty and ProductPrice are any
// so that a wrong type gets a message naming the field; with UseNumber a
// JSON number arrives as json.Number.
type tutorialOrderLine struct {
	ProductID    string `json:"productId"`
	Qty          any    `json:"qty"`
	ProductPrice any    `json:"productPrice"`
}

// parseUnits converts a productPrice in currency units (a JSON number with
// at most two decimals) to cents, exactly.
func parseUnits(field string, v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, errs.Invalid("invalid_price", "%s must be a JSON number of currency units like 39.99, not %s", field, describeJSON(v))
	}
	cents, err := money.Parse(n.String())
	if err != nil {
		return 0, errs.Invalid("invalid_price", "%s must be a positive amount with at most two decimals like 39.99, not %s", field, shortText(n.String()))
	}
	if cents <= 0 {
		return 0, errs.Invalid("invalid_price", "%s must be positive, not %s", field, shortText(n.String()))
	}
	return cents, nil
}

func parseQty(field string, v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, errs.Invalid("invalid_qty", "%s must be a JSON number, not %s", field, describeJSON(v))
	}
	q, err := strconv.Atoi(n.String())
	if err != nil || q < 1 || q > cart.MaxQty {
		return 0, errs.Invalid("invalid_qty", "%s must be a whole number from 1 to %d, not %s", field, cart.MaxQty, shortText(n.String()))
	}
	return q, nil
}

// describeJSON names a decoded JSON value for an error message.
func describeJSON(v any) string {
	switch v := v.(type) {
	case nil:
		return "null or missing"
	case string:
		return "the string " + shortText(strconv.Quote(v))
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return shortText(fmt.Sprintf("%v", v))
}

// shortText cuts s, a client's input shown in an error message, after 40
// bytes.
func shortText(s string) string {
	if len(s) <= 40 {
		return s
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// tutorialCreateOrder serves POST /orders/createOrder {"products": [{"productId",
// "qty", "productPrice"}]}: it places the order with the orders service at
// the given prices (currency units, checked there against the catalog) and
// returns the new order's id. An Idempotency-Key header is passed on.
func (g *Gateway) tutorialCreateOrder(r *http.Request) (any, error) {
	items, err := parseCreateOrder(r, g.cfg.MaxBody)
	if err != nil {
		return nil, err
	}
	_, orderID, _, err := g.placeOrder(r.Context(), items, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return nil, err
	}
	return orderID, nil
}

// parseCreateOrder reads createOrder's body into the lines of an order:
// at least one, each with a product id, a quantity from 1 to cart.MaxQty
// and a positive price in cents. The orders service checks the rest (the
// number of lines, duplicates, the prices against the catalog).
func parseCreateOrder(r *http.Request, maxBody int64) ([]orderItem, error) {
	var req struct {
		Products []tutorialOrderLine `json:"products"`
	}
	if err := decodeLenient(r, maxBody, &req); err != nil {
		return nil, err
	}
	if len(req.Products) == 0 {
		return nil, errs.Invalid("empty_order", "products must list at least one product")
	}
	items := make([]orderItem, len(req.Products))
	for i, p := range req.Products {
		if !web.ValidID(p.ProductID) {
			return nil, errs.Invalid("invalid_product_id", "products[%d].productId must be a product id such as p-00131", i)
		}
		qty, err := parseQty(fmt.Sprintf("products[%d].qty", i), p.Qty)
		if err != nil {
			return nil, err
		}
		cents, err := parseUnits(fmt.Sprintf("products[%d].productPrice", i), p.ProductPrice)
		if err != nil {
			return nil, err
		}
		items[i] = orderItem{ProductID: p.ProductID, Qty: qty, PriceCents: cents}
	}
	return items, nil
}

// tutorialOrder is an order in the tutorial's order history shape.
type tutorialOrder struct {
	OrderID         string                `json:"orderId"`
	UserID          string                `json:"userId"`
	OrderStatusCode int                   `json:"orderStatusCode"`
	PaymentID       string                `json:"paymentId"`
	Products        []tutorialOrderedItem `json:"products"`
	orderTrail
}

type tutorialOrderedItem struct {
	ProductID    string      `json:"productId"`
	Qty          int         `json:"qty"`
	ProductPrice json.Number `json:"productPrice"`
	// ProductData is nil when the catalog no longer has the product.
	ProductData *tutorialProductData `json:"productData"`
}

// tutorialHistory serves GET /orderHistory/viewOrderHistory: the
// shopper's orders, newest first, each line with its product's data from
// one catalog lookup.
func (g *Gateway) tutorialHistory(r *http.Request) (any, error) {
	orders, err := g.orderHistory(r.Context())
	if err != nil {
		return nil, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, o := range orders {
		for _, it := range o.Items {
			if !seen[it.ProductID] {
				seen[it.ProductID] = true
				ids = append(ids, it.ProductID)
			}
		}
	}
	found, err := g.lookupProducts(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	base := g.publicBase(r)
	out := make([]tutorialOrder, len(orders))
	for i, o := range orders {
		t := tutorialOrder{
			OrderID: o.OrderID, UserID: o.UserID, OrderStatusCode: o.Status, PaymentID: o.PaymentID,
			Products: make([]tutorialOrderedItem, len(o.Items)), orderTrail: o.orderTrail,
		}
		if len(t.IdentityScore) == 0 {
			t.IdentityScore = json.RawMessage("null")
		}
		for j, it := range o.Items {
			t.Products[j] = tutorialOrderedItem{ProductID: it.ProductID, Qty: it.Qty, ProductPrice: units(it.PriceCents)}
			if p, ok := found[it.ProductID]; ok {
				d := toTutorialData(p, base)
				t.Products[j].ProductData = &d
			}
		}
		out[i] = t
	}
	return out, nil
}
