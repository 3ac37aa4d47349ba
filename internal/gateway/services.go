package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"streamcart/internal/cart"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// maxServiceBody bounds a service response the gateway reads itself.
const maxServiceBody = 4 << 20

// product is a catalog product as the products service returns it.
type product struct {
	ID             string `json:"id"`
	DisplayName    string `json:"displayName"`
	Brand          string `json:"brand"`
	MasterCategory string `json:"masterCategory"`
	SubCategory    string `json:"subCategory"`
	ArticleType    string `json:"articleType"`
	Gender         string `json:"gender"`
	AgeGroup       string `json:"ageGroup"`
	VariantName    string `json:"variantName"`
	Description    string `json:"description"`
	PriceCents     int64  `json:"priceCents"`
	Currency       string `json:"currency"`
	ImageURL       string `json:"imageUrl"`
	Active         bool   `json:"active"`
}

// orderItem is one line of a create-order request to the orders service,
// and of an order in the history.
type orderItem struct {
	ProductID  string `json:"productId"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"priceCents"`
}

// historyOrder is an order as the order history service returns it.
type historyOrder struct {
	OrderID     string      `json:"orderId"`
	UserID      string      `json:"userId"`
	Status      int         `json:"status"`
	AmountCents int64       `json:"amountCents"`
	PaymentID   string      `json:"paymentId"`
	Items       []orderItem `json:"items"`
	orderTrail
}

// orderTrail is what the order history keeps of an order besides its
// content, named alike in its answer and in the tutorial's order history:
// who made and last changed it, when, and the shopper's identity score.
type orderTrail struct {
	CreatedOn      string          `json:"createdOn"`
	CreatedBy      string          `json:"createdBy"`
	LastUpdatedOn  string          `json:"lastUpdatedOn"`
	LastUpdatedBy  string          `json:"lastUpdatedBy"`
	IdentityScore  json.RawMessage `json:"identityScore"`
	PotentialFraud bool            `json:"potentialFraud"`
}

// call sends a request to up with the request's identity and id, and
// decodes a 2xx JSON answer into out (when not nil). It returns the
// status. A service's 4xx and 5xx errors come back as *errs.Error with the
// service's status, code and message, so that clients see them as they
// are; failures to reach the service are upstreamError's.
func (g *Gateway) call(ctx context.Context, up *upstream, method, path string, query url.Values, body any, header http.Header, out any) (int, error) {
	u := up.base.JoinPath(path)
	u.RawQuery = query.Encode()
	req, err := web.NewJSONRequest(ctx, method, u.String(), body)
	if err != nil {
		return 0, fmt.Errorf("%s request: %w", up.name, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	g.outboundHeaders(ctx, req.Header)
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, upstreamError(up.name, err)
	}
	defer resp.Body.Close()
	lr := io.LimitReader(resp.Body, maxServiceBody)
	if resp.StatusCode == http.StatusUnauthorized {
		return 0, upstreamError(up.name, errUpstreamAuth)
	}
	if resp.StatusCode >= 300 {
		var eb web.ErrorBody
		if err := json.NewDecoder(lr).Decode(&eb); err != nil || eb.Error.Code == "" {
			return 0, upstreamError(up.name, fmt.Errorf("%s %s: %s without an error body", method, path, resp.Status))
		}
		return 0, &errs.Error{Kind: web.KindOf(resp.StatusCode), Code: eb.Error.Code, Message: eb.Error.Message,
			Err: fmt.Errorf("%s %s %s: %s", up.name, method, path, resp.Status)}
	}
	if out != nil {
		if err := json.NewDecoder(lr).Decode(out); err != nil {
			return 0, upstreamError(up.name, fmt.Errorf("decode %s %s answer: %w", method, path, err))
		}
	}
	return resp.StatusCode, nil
}

// lookupProducts returns the products among ids that the catalog knows,
// active or not, asking for at most 100 at a time.
func (g *Gateway) lookupProducts(ctx context.Context, ids []string) (map[string]product, error) {
	found := make(map[string]product, len(ids))
	for start := 0; start < len(ids); start += 100 {
		chunk := ids[start:min(start+100, len(ids))]
		var out struct {
			Products []product `json:"products"`
		}
		if _, err := g.call(ctx, g.products, http.MethodPost, "/products/lookup", nil, map[string][]string{"ids": chunk}, nil, &out); err != nil {
			return nil, err
		}
		for _, p := range out.Products {
			found[p.ID] = p
		}
	}
	return found, nil
}

// productsPageMax is the largest page the products service returns.
const productsPageMax = 100

// searchProducts returns up to limit active products whose text matches
// q, all when q is empty, in the catalog's order. It asks for pages of at
// most productsPageMax, one after another, until it has limit products or
// the catalog has no more; a product that moves between pages while it
// reads them may be missed or come twice (and is then kept once).
func (g *Gateway) searchProducts(ctx context.Context, q string, limit int) ([]product, error) {
	var all []product
	seen := map[string]bool{}
	for offset := 0; len(all) < limit; {
		n := min(limit-len(all), productsPageMax)
		query := url.Values{"limit": {strconv.Itoa(n)}}
		if q != "" {
			query.Set("q", q)
		}
		if offset > 0 {
			query.Set("offset", strconv.Itoa(offset))
		}
		var page struct {
			Products []product `json:"products"`
			Total    int       `json:"total"`
		}
		if _, err := g.call(ctx, g.products, http.MethodGet, "/products", query, nil, nil, &page); err != nil {
			return nil, err
		}
		for _, p := range page.Products {
			if !seen[p.ID] {
				seen[p.ID] = true
				all = append(all, p)
			}
		}
		offset += len(page.Products)
		if len(page.Products) < n || offset >= page.Total {
			break
		}
	}
	return all, nil
}

// placeOrder asks the orders service for an order of items, with an
// optional idempotency key. It returns the order's JSON as the service
// sent it, its id, and the status: 201 for a new order, 200 for a replay.
func (g *Gateway) placeOrder(ctx context.Context, items []orderItem, idempotencyKey string) (json.RawMessage, string, int, error) {
	header := http.Header{}
	if idempotencyKey != "" {
		header.Set("Idempotency-Key", idempotencyKey)
	}
	var raw json.RawMessage
	status, err := g.call(ctx, g.orders, http.MethodPost, "/orders", nil, map[string][]orderItem{"items": items}, header, &raw)
	if err != nil {
		return nil, "", 0, err
	}
	var o struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(raw, &o); err != nil || o.OrderID == "" {
		return nil, "", 0, upstreamError(g.orders.name, errors.New("create order: answer has no orderId"))
	}
	return raw, o.OrderID, status, nil
}

// orderHistory returns the shopper's orders, newest first, at the history
// service's default limit.
func (g *Gateway) orderHistory(ctx context.Context) ([]historyOrder, error) {
	var out struct {
		Orders []historyOrder `json:"orders"`
	}
	if _, err := g.call(ctx, g.history, http.MethodGet, "/history", nil, nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Orders, nil
}

// cartClients lends the cart the gateway's clients of the products and
// orders services; calls carry the shopper's signed identity from ctx.
type cartClients struct{ g *Gateway }

// LookupProducts implements cart.Catalog.
func (c cartClients) LookupProducts(ctx context.Context, ids []string) (map[string]cart.Product, error) {
	found, err := c.g.lookupProducts(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]cart.Product, len(found))
	for id, p := range found {
		out[id] = cart.Product{ID: p.ID, DisplayName: p.DisplayName, PriceCents: p.PriceCents, Active: p.Active}
	}
	return out, nil
}

// PlaceOrder implements cart.Orders.
func (c cartClients) PlaceOrder(ctx context.Context, lines []cart.OrderLine, idempotencyKey string) (cart.PlacedOrder, error) {
	items := make([]orderItem, len(lines))
	for i, l := range lines {
		items[i] = orderItem(l)
	}
	body, id, status, err := c.g.placeOrder(ctx, items, idempotencyKey)
	if err != nil {
		return cart.PlacedOrder{}, err
	}
	return cart.PlacedOrder{ID: id, Status: status, Body: body}, nil
}
