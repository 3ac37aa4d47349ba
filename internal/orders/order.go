package orders

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/money"
	"streamcart/internal/platform/errs"
)

// Limits on a new order.
const (
	MaxItems = 50
	MaxQty   = 99
	// maxProductIDLen bounds a product id before it reaches the catalog.
	maxProductIDLen = 64
)

// Order is an order with its line items.
type Order struct {
	ID          string        `json:"orderId"`
	UserID      string        `json:"userId"`
	Status      events.Status `json:"status"`
	StatusName  string        `json:"statusName"`
	AmountCents int64         `json:"amountCents"`
	Currency    string        `json:"currency"`
	PaymentID   string        `json:"paymentId"`
	Items       []Item        `json:"items"`
	CreatedAt   time.Time     `json:"createdAt"`
	UpdatedAt   time.Time     `json:"updatedAt"`
	CreatedBy   string        `json:"createdBy"`
	UpdatedBy   string        `json:"updatedBy"`
}

// Item is one line of an order, at the catalog price when it was placed.
type Item struct {
	ProductID   string `json:"productId"`
	DisplayName string `json:"displayName"`
	Qty         int    `json:"qty"`
	PriceCents  int64  `json:"priceCents"`
	LineCents   int64  `json:"lineCents"`
}

// CreateRequest is the body of a create-order request.
type CreateRequest struct {
	Items []ItemRequest `json:"items"`
}

// ItemRequest is one requested line. PriceCents, when given, is the price
// the shopper saw; it must equal the catalog's, or the order is refused
// (the price is never taken from the client).
type ItemRequest struct {
	ProductID  string `json:"productId"`
	Qty        int    `json:"qty"`
	PriceCents *int64 `json:"priceCents,omitempty"`
}

// Validate checks the request's shape, before the catalog is asked.
func (r CreateRequest) Validate() error {
	if len(r.Items) == 0 {
		return errs.Invalid("empty_order", "an order needs at least one item")
	}
	if len(r.Items) > MaxItems {
		return errs.Invalid("too_many_items", "an order can have at most %d distinct items, this one has %d", MaxItems, len(r.Items))
	}
	seen := make(map[string]bool, len(r.Items))
	for i, it := range r.Items {
		if !validProductID(it.ProductID) {
			return errs.Invalid("invalid_product_id", "items[%d].productId %q is not a product id", i, it.ProductID)
		}
		if seen[it.ProductID] {
			return errs.Invalid("duplicate_product", "product %s appears more than once; use one line with a quantity", it.ProductID)
		}
		seen[it.ProductID] = true
		if it.Qty < 1 || it.Qty > MaxQty {
			return errs.Invalid("invalid_qty", "items[%d].qty must be between 1 and %d, got %d", i, MaxQty, it.Qty)
		}
		if it.PriceCents != nil && *it.PriceCents <= 0 {
			return errs.Invalid("invalid_price", "items[%d].priceCents must be positive, got %d", i, *it.PriceCents)
		}
	}
	return nil
}

func validProductID(id string) bool {
	if id == "" || len(id) > maxProductIDLen {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// hash identifies a request's content, to tell a retry from a different
// request that reuses an idempotency key.
func (r CreateRequest) hash() string {
	b, _ := json.Marshal(r) // plain data always encodes
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Domain errors. They are web errors so that handlers can return them as
// they are.
var (
	errOrderNotFound = errs.NotFound("", "order not found")
)

func errUnknownProduct(id string) error {
	return errs.Unprocessable("unknown_product", "product %s does not exist or is no longer sold", id)
}

func errPriceChanged(id string, sent, catalog int64) error {
	return errs.Conflict("price_changed", "the price of product %s is %s, not %s; review the cart and try again",
		id, "$"+money.Format(catalog), "$"+money.Format(sent))
}

func errTotalTooLarge(total, limit int64) error {
	return errs.Unprocessable("total_too_large", "the order total %s is above the limit of %s",
		"$"+money.Format(total), "$"+money.Format(limit))
}
