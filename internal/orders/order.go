package orders

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/money"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// Limits on a new order.
const (
	MaxItems = 50
	MaxQty   = 99
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

// event returns o as its events tell it: OrderPlaced and OrderSnapshot.
func (o Order) event() events.Order {
	items := make([]events.LineItem, len(o.Items))
	for i, it := range o.Items {
		items[i] = events.LineItem{ProductID: it.ProductID, Qty: it.Qty, PriceCents: it.PriceCents}
	}
	return events.Order{OrderID: o.ID, UserID: o.UserID, AmountCents: o.AmountCents, Items: items, CreatedOn: o.CreatedAt}
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
		if !web.ValidID(it.ProductID) {
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

// hash identifies a request's content, to tell a retry from a different
// request that reuses an idempotency key.
func (r CreateRequest) hash() string {
	b, _ := json.Marshal(r) // plain data always encodes
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ErrNotFound means the order does not exist or is another user's: both
// look the same, so order ids cannot be probed. Callers test for it with
// errors.Is.
var ErrNotFound = errs.NotFound("", "order not found")

// errUnknownProduct refuses an order for a product that is not in the
// catalog or no longer sold.
func errUnknownProduct(id string) error {
	return errs.Unprocessable("unknown_product", "product %s does not exist or is no longer sold", id)
}

// errPriceChanged refuses an order whose shopper saw a price (sent) other
// than the catalog's.
func errPriceChanged(id string, sent, catalog int64) error {
	return errs.Conflict("price_changed", "the price of product %s is %s, not %s; review the cart and try again",
		id, "$"+money.Format(catalog), "$"+money.Format(sent))
}

// errTotalTooLarge refuses an order whose total is above Config.MaxTotalCents.
func errTotalTooLarge(total, limit int64) error {
	return errs.Unprocessable("total_too_large", "the order total %s is above the limit of %s",
		"$"+money.Format(total), "$"+money.Format(limit))
}

// errKeyReused refuses a request whose idempotency key the user already
// used for a different request, which created order orderID.
func errKeyReused(key, orderID string) error {
	return errs.Unprocessable("idempotency_key_reused", "Idempotency-Key %q was used for a different order (%s)", key, orderID)
}

// errOutcomeUnknown means the connection to the database broke after the
// new order was sent to it (postgres.OutcomeUnknown): the order may have
// been stored or not, and nothing here can tell. It is still a 503: the
// shopper should try again, and the Idempotency-Key makes that safe, as
// the message says; without one, the shopper is told to look first.
func errOutcomeUnknown(cause error, keyed bool) error {
	msg := "the order may or may not have been stored; retry with the same Idempotency-Key to find out"
	if !keyed {
		msg = "the order may or may not have been stored; look at your orders before you place it again " +
			"(send an Idempotency-Key to make retrying safe)"
	}
	e := errs.E(errs.KindUnavailable, "outcome_unknown", "%s", msg)
	e.Err = cause
	return e
}

// errCatalogUnavailable means the catalog could not be asked, or said it
// is down for now: the same request may succeed shortly.
func errCatalogUnavailable(cause error) error {
	return errs.Unavailable(cause, "the catalog is unavailable; try again shortly")
}

// errCatalogFailed means the catalog answered, but not with prices: an
// error it does not expect to pass, or a body that is not a lookup's.
func errCatalogFailed(cause error) error {
	e := errs.E(errs.KindBadGateway, "catalog_failed", "the catalog failed to answer; try again later")
	e.Err = cause
	return e
}
