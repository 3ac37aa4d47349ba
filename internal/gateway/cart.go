package gateway

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"streamcart/internal/money"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// Cart limits; they match what the orders service accepts.
const (
	cartMaxItems = 50
	cartMaxQty   = 99
)

// Fields of a cart's Redis hash. Each line has three fields: qty, the
// price the shopper last saw (cents) and when it was added (Unix ms).
const (
	cartIDField      = "_id" // random; a new one after the cart is deleted
	cartVersionField = "_v"  // incremented by each change of lines
	qtyPrefix        = "q:"
	pricePrefix      = "p:"
	addedPrefix      = "a:"
)

// cart is a shopper's cart as Redis keeps it.
type cart struct {
	ID      string
	Version int64
	Lines   []cartLine // in the order they were added
}

type cartLine struct {
	ProductID string
	Qty       int
	// PriceCents is the price the shopper last saw, which checkout sends
	// to the orders service to be checked against the catalog.
	PriceCents int64
	added      int64
}

func (c cart) line(productID string) (cartLine, bool) {
	i := slices.IndexFunc(c.Lines, func(l cartLine) bool { return l.ProductID == productID })
	if i < 0 {
		return cartLine{}, false
	}
	return c.Lines[i], true
}

// idempotencyKey identifies the cart's content at its version, so that
// checking out the same cart twice (a double click) orders once, while a
// cart changed in any way, or refilled after a checkout, orders again.
func (c cart) idempotencyKey() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n", c.ID, c.Version)
	lines := slices.SortedFunc(slices.Values(c.Lines), func(a, b cartLine) int { return strings.Compare(a.ProductID, b.ProductID) })
	for _, l := range lines {
		fmt.Fprintf(&b, "%s %d %d\n", l.ProductID, l.Qty, l.PriceCents)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "cart-" + hex.EncodeToString(sum[:24])
}

// parseCart reads a cart hash. Fields it cannot read are ignored: a line
// needs at least its qty.
func parseCart(fields map[string]string) cart {
	c := cart{ID: fields[cartIDField]}
	c.Version, _ = strconv.ParseInt(fields[cartVersionField], 10, 64)
	for k, v := range fields {
		id, ok := strings.CutPrefix(k, qtyPrefix)
		if !ok {
			continue
		}
		qty, err := strconv.Atoi(v)
		if err != nil || qty < 1 {
			continue
		}
		price, _ := strconv.ParseInt(fields[pricePrefix+id], 10, 64)
		added, _ := strconv.ParseInt(fields[addedPrefix+id], 10, 64)
		c.Lines = append(c.Lines, cartLine{ProductID: id, Qty: qty, PriceCents: price, added: added})
	}
	slices.SortFunc(c.Lines, func(a, b cartLine) int {
		return cmp.Or(cmp.Compare(a.added, b.added), strings.Compare(a.ProductID, b.ProductID))
	})
	return c
}

func (g *Gateway) cartKey(userID string) string { return g.cfg.KeyPrefix + "cart:" + userID }

// loadCart reads the user's cart and restarts its TTL, in one round trip.
func (g *Gateway) loadCart(ctx context.Context, userID string) (cart, error) {
	key := g.cartKey(userID)
	pipe := g.rdb.TxPipeline()
	fields := pipe.HGetAll(ctx, key)
	pipe.Expire(ctx, key, g.cfg.SessionTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return cart{}, errs.Unavailable(fmt.Errorf("load cart: %w", err), "the cart is unavailable; try again shortly")
	}
	return parseCart(fields.Val()), nil
}

// putCartLine sets a line's qty and seen price, keeping when it was added.
func (g *Gateway) putCartLine(ctx context.Context, userID, productID string, qty int, priceCents int64) error {
	key := g.cartKey(userID)
	pipe := g.rdb.TxPipeline()
	pipe.HSetNX(ctx, key, cartIDField, stream.NewID())
	pipe.HSet(ctx, key, qtyPrefix+productID, qty, pricePrefix+productID, priceCents)
	pipe.HSetNX(ctx, key, addedPrefix+productID, time.Now().UnixMilli())
	pipe.HIncrBy(ctx, key, cartVersionField, 1)
	pipe.Expire(ctx, key, g.cfg.SessionTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return errs.Unavailable(fmt.Errorf("put cart line: %w", err), "the cart is unavailable; try again shortly")
	}
	return nil
}

// removeCartLines removes the lines of productIDs.
func (g *Gateway) removeCartLines(ctx context.Context, userID string, productIDs ...string) error {
	key := g.cartKey(userID)
	fields := make([]string, 0, 3*len(productIDs))
	for _, id := range productIDs {
		fields = append(fields, qtyPrefix+id, pricePrefix+id, addedPrefix+id)
	}
	pipe := g.rdb.TxPipeline()
	pipe.HDel(ctx, key, fields...)
	pipe.HIncrBy(ctx, key, cartVersionField, 1)
	pipe.Expire(ctx, key, g.cfg.SessionTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return errs.Unavailable(fmt.Errorf("remove cart lines: %w", err), "the cart is unavailable; try again shortly")
	}
	return nil
}

// notePrices records the prices the shopper was just shown, for lines
// still in the cart.
func (g *Gateway) notePrices(ctx context.Context, userID string, prices map[string]int64) error {
	key := g.cartKey(userID)
	args := make([]any, 0, 2*len(prices))
	for id, p := range prices {
		args = append(args, pricePrefix+id, p)
	}
	if err := g.rdb.HSet(ctx, key, args...).Err(); err != nil {
		return fmt.Errorf("note cart prices: %w", err)
	}
	return nil
}

// cartView is the JSON form of a cart, priced by the catalog.
type cartView struct {
	Items      []cartItemView `json:"items"`
	TotalCents int64          `json:"totalCents"`
}

// cartItemView is one line. A product that is gone or no longer sold is
// listed with Available false, its last seen price and a line total of 0,
// and is left out of the cart's total.
type cartItemView struct {
	ProductID   string `json:"productId"`
	DisplayName string `json:"displayName"`
	ImageURL    string `json:"imageUrl"`
	PriceCents  int64  `json:"priceCents"`
	Qty         int    `json:"qty"`
	LineCents   int64  `json:"lineCents"`
	Available   bool   `json:"available"`
}

func imageURL(productID string) string { return "/api/v1/products/" + productID + "/image.svg" }

// available reports whether p can be ordered.
func available(p product, ok bool) bool { return ok && p.Active && p.PriceCents > 0 }

// view prices c from the catalog and records the prices shown.
func (g *Gateway) view(ctx context.Context, userID string, c cart) (cartView, error) {
	v := cartView{Items: make([]cartItemView, 0, len(c.Lines))}
	if len(c.Lines) == 0 {
		return v, nil
	}
	ids := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		ids[i] = l.ProductID
	}
	found, err := g.lookupProducts(ctx, ids)
	if err != nil {
		return cartView{}, err
	}
	changed := map[string]int64{}
	for _, l := range c.Lines {
		p, ok := found[l.ProductID]
		item := cartItemView{ProductID: l.ProductID, DisplayName: p.DisplayName, ImageURL: imageURL(l.ProductID), PriceCents: l.PriceCents, Qty: l.Qty}
		if available(p, ok) {
			item.Available, item.PriceCents = true, p.PriceCents
			if item.LineCents, err = money.Mul(p.PriceCents, int64(l.Qty)); err != nil {
				return cartView{}, err
			}
			v.TotalCents += item.LineCents
			if p.PriceCents != l.PriceCents {
				changed[l.ProductID] = p.PriceCents
			}
		}
		v.Items = append(v.Items, item)
	}
	if len(changed) > 0 {
		if err := g.notePrices(ctx, userID, changed); err != nil {
			return cartView{}, errs.Unavailable(err, "the cart is unavailable; try again shortly")
		}
	}
	return v, nil
}

// writeCart answers with the user's cart.
func (g *Gateway) writeCart(w http.ResponseWriter, r *http.Request, userID string) error {
	c, err := g.loadCart(r.Context(), userID)
	if err != nil {
		return err
	}
	v, err := g.view(r.Context(), userID, c)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, v)
	return nil
}

// getCart serves GET /api/v1/cart.
func (g *Gateway) getCart(w http.ResponseWriter, r *http.Request) error {
	return g.writeCart(w, r, mustSession(r.Context()).UserID)
}

// putCartItem serves PUT /api/v1/cart/items/{productId} {"qty": 0..99}.
func (g *Gateway) putCartItem(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s := mustSession(ctx)
	id := r.PathValue("productId")
	if !validID(id) {
		return errs.Invalid("invalid_product_id", "%q is not a product id", id)
	}
	var req struct {
		Qty *int `json:"qty"`
	}
	if err := web.DecodeJSON(r, 1<<10, &req); err != nil {
		return err
	}
	if req.Qty == nil || *req.Qty < 0 || *req.Qty > cartMaxQty {
		return errs.Invalid("invalid_qty", "qty must be a whole number from 0 (remove) to %d", cartMaxQty)
	}
	if *req.Qty == 0 {
		if err := g.removeCartLines(ctx, s.UserID, id); err != nil {
			return err
		}
		return g.writeCart(w, r, s.UserID)
	}
	found, err := g.lookupProducts(ctx, []string{id})
	if err != nil {
		return err
	}
	p, ok := found[id]
	if !available(p, ok) {
		return errs.Unprocessable("unknown_product", "product %s does not exist or is no longer sold", id)
	}
	c, err := g.loadCart(ctx, s.UserID)
	if err != nil {
		return err
	}
	if _, ok := c.line(id); !ok && len(c.Lines) >= cartMaxItems {
		return errs.Unprocessable("cart_full", "a cart holds at most %d different products", cartMaxItems)
	}
	if err := g.putCartLine(ctx, s.UserID, id, *req.Qty, p.PriceCents); err != nil {
		return err
	}
	return g.writeCart(w, r, s.UserID)
}

// deleteCartItem serves DELETE /api/v1/cart/items/{productId}.
func (g *Gateway) deleteCartItem(w http.ResponseWriter, r *http.Request) error {
	s := mustSession(r.Context())
	id := r.PathValue("productId")
	if !validID(id) {
		return errs.Invalid("invalid_product_id", "%q is not a product id", id)
	}
	if err := g.removeCartLines(r.Context(), s.UserID, id); err != nil {
		return err
	}
	return g.writeCart(w, r, s.UserID)
}

// deleteCart serves DELETE /api/v1/cart.
func (g *Gateway) deleteCart(w http.ResponseWriter, r *http.Request) error {
	s := mustSession(r.Context())
	if err := g.rdb.Del(r.Context(), g.cartKey(s.UserID)).Err(); err != nil {
		return errs.Unavailable(fmt.Errorf("delete cart: %w", err), "the cart is unavailable; try again shortly")
	}
	web.WriteJSON(w, http.StatusOK, cartView{Items: []cartItemView{}})
	return nil
}

// checkout serves POST /api/v1/cart/checkout: it orders the cart's lines
// at the prices the shopper last saw, with an idempotency key of the
// cart's content and version, and on success (201, or 200 for a replay)
// removes the ordered lines and answers with the order. The orders
// service's errors, such as 409 price_changed, pass through.
func (g *Gateway) checkout(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s := mustSession(ctx)
	c, err := g.loadCart(ctx, s.UserID)
	if err != nil {
		return err
	}
	if len(c.Lines) == 0 {
		return errs.Invalid("empty_cart", "the cart is empty")
	}
	items := make([]orderItem, len(c.Lines))
	ids := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		items[i] = orderItem{ProductID: l.ProductID, Qty: l.Qty, PriceCents: l.PriceCents}
		ids[i] = l.ProductID
	}
	order, orderID, status, err := g.placeOrder(ctx, items, c.idempotencyKey())
	if err != nil {
		return err
	}
	if err := g.removeCartLines(ctx, s.UserID, ids...); err != nil {
		// The order exists; a retry replays it and clears the cart then.
		g.log.WarnContext(ctx, "cart not cleared after checkout", "order_id", orderID, "err", err)
	}
	w.Header().Set("Location", "/api/v1/orders/"+orderID)
	web.WriteJSON(w, status, order)
	return nil
}
