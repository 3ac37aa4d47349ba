package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

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

// tutorialMaxProducts caps getProductsByFilter's answer.
const tutorialMaxProducts = 100

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

// decodeLenient reads the request's JSON body into v, with numbers as
// json.Number. Unlike the /api/v1 routes it ignores unknown fields, as the
// tutorial's clients send more than the gateway reads; an empty body
// leaves v as it is.
func decodeLenient(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	err := dec.Decode(v)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &tooLarge):
		return errBodyTooLarge(tooLarge.Limit)
	default:
		return errs.Invalid("invalid_json", "request body is not the expected JSON: %v", err)
	}
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

// imageURL is a product's image on the gateway's API.
func imageURL(productID string) string { return "/api/v1/products/" + productID + "/image.svg" }

// units returns cents as a JSON number of currency units: 3999 → 39.99,
// made from the integer, never through floating point.
func units(cents int64) json.Number { return json.Number(money.Format(cents)) }

func toTutorialData(p product) tutorialProductData {
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
	d.StyleImages.Default.ImageURL = imageURL(p.ID)
	d.ProductDescriptors.Description.Value = p.Description
	return d
}

// tutorialProducts serves POST /products/getProductsByFilter
// {"productDisplayName": "puma"}: up to 100 matching products, all when
// the name is empty.
func (g *Gateway) tutorialProducts(r *http.Request) (any, error) {
	var req struct {
		ProductDisplayName string `json:"productDisplayName"`
	}
	if err := decodeLenient(r, &req); err != nil {
		return nil, err
	}
	ps, err := g.searchProducts(r.Context(), strings.TrimSpace(req.ProductDisplayName), tutorialMaxProducts)
	if err != nil {
		return nil, err
	}
	out := make([]tutorialProduct, len(ps))
	for i, p := range ps {
		out[i] = tutorialProduct{ProductID: p.ID, Data: toTutorialData(p)}
	}
	return out, nil
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
		return 0, errs.Invalid("invalid_price", "%s must be a positive amount with at most two decimals like 39.99, not %s", field, n)
	}
	if cents <= 0 {
		return 0, errs.Invalid("invalid_price", "%s must be positive, not %s", field, n)
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
		return 0, errs.Invalid("invalid_qty", "%s must be a whole number from 1 to %d, not %s", field, cart.MaxQty, n)
	}
	return q, nil
}

// describeJSON names a decoded JSON value for an error message.
func describeJSON(v any) string {
	switch v := v.(type) {
	case nil:
		return "null or missing"
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}

// tutorialCreateOrder serves POST /orders/createOrder {"products": [{"productId",
// "qty", "productPrice"}]}: it places the order with the orders service at
// the given prices (currency units, checked there against the catalog) and
// returns the new order's id. An Idempotency-Key header is passed on.
func (g *Gateway) tutorialCreateOrder(r *http.Request) (any, error) {
	var req struct {
		Products []tutorialOrderLine `json:"products"`
	}
	if err := decodeLenient(r, &req); err != nil {
		return nil, err
	}
	if len(req.Products) == 0 {
		return nil, errs.Invalid("empty_order", "products must list at least one product")
	}
	items := make([]orderItem, len(req.Products))
	for i, p := range req.Products {
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
	_, orderID, _, err := g.placeOrder(r.Context(), items, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return nil, err
	}
	return orderID, nil
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
				d := toTutorialData(p)
				t.Products[j].ProductData = &d
			}
		}
		out[i] = t
	}
	return out, nil
}
