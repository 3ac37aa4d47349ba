package cart

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/money"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// Defaults of Config.
const (
	// DefaultKeyPrefix starts the cart's Redis keys: the gateway's prefix,
	// as the cart lives in the gateway's process and keyspace.
	DefaultKeyPrefix = "gateway:"
	// DefaultTTL is how long an untouched cart lives.
	DefaultTTL = 24 * time.Hour
)

// Config configures a Service. Every zero value means the default named
// in the field's comment.
type Config struct {
	// KeyPrefix starts the key of every cart: KeyPrefix + "cart:" + user
	// id. Default "gateway:".
	KeyPrefix string
	// TTL is how long an untouched cart lives; each use restarts it. The
	// gateway passes its session TTL, so that a cart lives as long as its
	// session. Default 24h.
	TTL time.Duration
}

func (cfg *Config) setDefaults() {
	cfg.KeyPrefix = cmp.Or(cfg.KeyPrefix, DefaultKeyPrefix)
	cfg.TTL = cmp.Or(cfg.TTL, DefaultTTL)
}

// Validate reports the first thing wrong with cfg, after defaults.
func (cfg Config) Validate() error {
	cfg.setDefaults()
	if cfg.TTL < time.Second {
		return fmt.Errorf("cart config: TTL %v is shorter than a second", cfg.TTL)
	}
	return nil
}

// Product is what the cart needs to know of a catalog product.
type Product struct {
	ID          string
	DisplayName string
	PriceCents  int64
	// Active is false for a product that is no longer sold.
	Active bool
}

// available reports whether p can be ordered.
func available(p Product, ok bool) bool { return ok && p.Active && p.PriceCents > 0 }

// Catalog looks up products. The gateway implements it with its client of
// the products service; tests with a fake.
type Catalog interface {
	// LookupProducts returns the products among ids that the catalog
	// knows, active or not. Its errors are passed to the shopper as they
	// are (a *errs.Error keeps its status).
	LookupProducts(ctx context.Context, ids []string) (map[string]Product, error)
}

// OrderLine is one line of an order to place.
type OrderLine struct {
	ProductID  string `json:"productId"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"priceCents"`
}

// PlacedOrder is an order the orders service placed.
type PlacedOrder struct {
	ID string
	// Status is 201 for a new order, 200 for a replay of the same
	// idempotency key.
	Status int
	// Body is the order as the orders service answered it.
	Body json.RawMessage
}

// Orders places orders. The gateway implements it with its client of the
// orders service; tests with a fake.
type Orders interface {
	// PlaceOrder orders lines at their prices, which the orders service
	// checks against the catalog, once per idempotencyKey. Its errors,
	// such as 409 price_changed, are passed to the shopper as they are.
	PlaceOrder(ctx context.Context, lines []OrderLine, idempotencyKey string) (PlacedOrder, error)
}

// Service keeps carts in Redis. It is safe for concurrent use.
type Service struct {
	rdb     redis.UniversalClient
	catalog Catalog
	orders  Orders
	cfg     Config
	log     *slog.Logger
}

// New returns a Service that keeps carts in rdb, prices them with catalog
// and checks them out with orders.
func New(rdb redis.UniversalClient, catalog Catalog, orders Orders, cfg Config, log *slog.Logger) (*Service, error) {
	if rdb == nil || catalog == nil || orders == nil || log == nil {
		return nil, errors.New("cart: rdb, catalog, orders and log are required")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{rdb: rdb, catalog: catalog, orders: orders, cfg: cfg, log: log}, nil
}

// View is a cart priced by the catalog.
type View struct {
	Items      []Item `json:"items"`
	TotalCents int64  `json:"totalCents"`
}

// Item is one line of a View. A product that is gone or no longer sold is
// listed with Available false, its last seen price and a line total of 0,
// and is left out of the cart's total.
type Item struct {
	ProductID   string `json:"productId"`
	DisplayName string `json:"displayName"`
	ImageURL    string `json:"imageUrl"`
	PriceCents  int64  `json:"priceCents"`
	Qty         int    `json:"qty"`
	LineCents   int64  `json:"lineCents"`
	Available   bool   `json:"available"`
}

// imageURL is a product's image on the gateway's public API.
func imageURL(productID string) string { return "/api/v1/products/" + productID + "/image.svg" }

// Get returns the user's cart, priced by the catalog, and records the
// prices shown as the ones the shopper has seen.
func (s *Service) Get(ctx context.Context, userID string) (View, error) {
	c, err := s.load(ctx, userID)
	if err != nil {
		return View{}, err
	}
	return s.price(ctx, userID, c)
}

// price prices c from the catalog and records the prices shown.
func (s *Service) price(ctx context.Context, userID string, c cart) (View, error) {
	v := View{Items: make([]Item, 0, len(c.Lines))}
	if len(c.Lines) == 0 {
		return v, nil
	}
	ids := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		ids[i] = l.ProductID
	}
	found, err := s.catalog.LookupProducts(ctx, ids)
	if err != nil {
		return View{}, err
	}
	changed := map[string]int64{}
	for _, l := range c.Lines {
		p, ok := found[l.ProductID]
		item := Item{ProductID: l.ProductID, DisplayName: p.DisplayName, ImageURL: imageURL(l.ProductID), PriceCents: l.PriceCents, Qty: l.Qty}
		if available(p, ok) {
			item.Available, item.PriceCents = true, p.PriceCents
			if item.LineCents, err = money.Mul(p.PriceCents, int64(l.Qty)); err != nil {
				return View{}, err
			}
			v.TotalCents += item.LineCents
			if p.PriceCents != l.PriceCents {
				changed[l.ProductID] = p.PriceCents
			}
		}
		v.Items = append(v.Items, item)
	}
	if len(changed) > 0 {
		if err := s.notePrices(ctx, userID, changed); err != nil {
			return View{}, err
		}
	}
	return v, nil
}

// Set sets the qty (0 to MaxQty; 0 removes the line) of productID in the
// user's cart at the catalog's price, and returns the cart. The product
// must exist and be sold, and a cart holds at most MaxItems products.
func (s *Service) Set(ctx context.Context, userID, productID string, qty int) (View, error) {
	if !web.ValidID(productID) {
		return View{}, errProductID(productID)
	}
	if qty < 0 || qty > MaxQty {
		return View{}, errQty()
	}
	if qty == 0 {
		return s.Remove(ctx, userID, productID)
	}
	found, err := s.catalog.LookupProducts(ctx, []string{productID})
	if err != nil {
		return View{}, err
	}
	p, ok := found[productID]
	if !available(p, ok) {
		return View{}, errs.Unprocessable("unknown_product", "product %s does not exist or is no longer sold", productID)
	}
	c, err := s.load(ctx, userID)
	if err != nil {
		return View{}, err
	}
	if _, ok := c.line(productID); !ok && len(c.Lines) >= MaxItems {
		return View{}, errs.Unprocessable("cart_full", "a cart holds at most %d different products", MaxItems)
	}
	if err := s.putLine(ctx, userID, productID, qty, p.PriceCents); err != nil {
		return View{}, err
	}
	return s.Get(ctx, userID)
}

func errQty() error {
	return errs.Invalid("invalid_qty", "qty must be a whole number from 0 (remove) to %d", MaxQty)
}

func errProductID(id string) error {
	return errs.Invalid("invalid_product_id", "%q is not a product id", id)
}

// Remove removes the line of productID from the user's cart and returns
// the cart.
func (s *Service) Remove(ctx context.Context, userID, productID string) (View, error) {
	if !web.ValidID(productID) {
		return View{}, errProductID(productID)
	}
	if err := s.removeLines(ctx, userID, productID); err != nil {
		return View{}, err
	}
	return s.Get(ctx, userID)
}

// Clear deletes the user's cart.
func (s *Service) Clear(ctx context.Context, userID string) error {
	return s.drop(ctx, userID)
}

// Checkout orders the user's cart at the prices the shopper last saw, with
// an idempotency key of the cart's content and version, and on success
// removes the ordered lines. Checking out the same cart twice (a double
// click) answers the same order, with Status 200 the second time.
func (s *Service) Checkout(ctx context.Context, userID string) (PlacedOrder, error) {
	c, err := s.load(ctx, userID)
	if err != nil {
		return PlacedOrder{}, err
	}
	if len(c.Lines) == 0 {
		return PlacedOrder{}, errs.Invalid("empty_cart", "the cart is empty")
	}
	lines := make([]OrderLine, len(c.Lines))
	ids := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		lines[i] = OrderLine{ProductID: l.ProductID, Qty: l.Qty, PriceCents: l.PriceCents}
		ids[i] = l.ProductID
	}
	order, err := s.orders.PlaceOrder(ctx, lines, c.idempotencyKey())
	if err != nil {
		return PlacedOrder{}, err
	}
	if err := s.removeLines(ctx, userID, ids...); err != nil {
		// The order exists; a retry replays it and clears the cart then.
		s.log.WarnContext(ctx, "cart not cleared after checkout", "order_id", order.ID, "err", err)
	}
	return order, nil
}
