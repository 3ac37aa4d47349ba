// Package cart is the shopper's cart: lines of products and quantities kept
// in Redis, priced by the catalog when shown, and checked out into an
// order with an idempotency key of the cart's content.
//
// The cart is a part of the gateway's process, a room of its own inside
// the gateway: the gateway builds it, serves its routes behind its
// sessions and lends it its clients of the products and orders services
// (Catalog, Orders), which sign the shopper's identity onto each call.
// The cart knows the shopper from the identity in the request context
// (auth.FromContext), which the gateway's sessions put there. It imports
// only events, stream and platform packages, never the gateway or another
// service.
package cart

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Limits of a cart; they match what the orders service accepts.
const (
	// MaxItems is how many different products a cart holds.
	MaxItems = 50
	// MaxQty is the largest quantity of one line.
	MaxQty = 99
)

// Fields of a cart's Redis hash. Each line has three fields: qty, the
// price the shopper last saw (cents) and when it was added (Unix ms).
const (
	idField      = "_id" // random; a new one after the cart is deleted
	versionField = "_v"  // incremented by each change of lines
	qtyPrefix    = "q:"
	pricePrefix  = "p:"
	addedPrefix  = "a:"
)

// cart is a shopper's cart as Redis keeps it.
type cart struct {
	ID      string
	Version int64
	Lines   []line // in the order they were added
}

type line struct {
	ProductID string
	Qty       int
	// PriceCents is the price the shopper last saw, which checkout sends
	// to the orders service to be checked against the catalog.
	PriceCents int64
	added      int64
}

func (c cart) line(productID string) (line, bool) {
	i := slices.IndexFunc(c.Lines, func(l line) bool { return l.ProductID == productID })
	if i < 0 {
		return line{}, false
	}
	return c.Lines[i], true
}

// idempotencyKey identifies the cart's content at its version, so that
// checking out the same cart twice (a double click) orders once, while a
// cart changed in any way, or refilled after a checkout, orders again.
func (c cart) idempotencyKey() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n", c.ID, c.Version)
	lines := slices.SortedFunc(slices.Values(c.Lines), func(a, b line) int { return strings.Compare(a.ProductID, b.ProductID) })
	for _, l := range lines {
		fmt.Fprintf(&b, "%s %d %d\n", l.ProductID, l.Qty, l.PriceCents)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "cart-" + hex.EncodeToString(sum[:24])
}

// parseCart reads a cart hash. Fields it cannot read are ignored: a line
// needs at least its qty.
func parseCart(fields map[string]string) cart {
	c := cart{ID: fields[idField]}
	c.Version, _ = strconv.ParseInt(fields[versionField], 10, 64)
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
		c.Lines = append(c.Lines, line{ProductID: id, Qty: qty, PriceCents: price, added: added})
	}
	slices.SortFunc(c.Lines, func(a, b line) int {
		return cmp.Or(cmp.Compare(a.added, b.added), strings.Compare(a.ProductID, b.ProductID))
	})
	return c
}
