package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// ProductChanged announces the state of a catalog product after a change
// on ProductsStream: what orders needs to price an order, and the
// product's version, which counts its changes. products writes one
// through its outbox, in the transaction of each change (and of the
// seeding of the catalog); orders keeps a copy of the prices from them.
//
// Each event carries the whole state, not the difference, so that a
// consumer keeps the newest version of each product and drops older
// ones: events of one product read out of order, twice, or after a
// snapshot that already had a newer version change nothing.
type ProductChanged struct {
	ProductID   string
	DisplayName string
	// PriceCents is the price in cents, positive.
	PriceCents int64
	// Active is false when the product is delisted: it is not for sale
	// (the catalog's deletion).
	Active bool
	// Version is the product's version after the change, from 1 up.
	Version int64
	// UpdatedOn is when products made the change (the product's
	// updatedAt).
	UpdatedOn time.Time
}

// Event encodes e for publishing, signed with k (see ProductKey): only
// products holds the key's secret among the writers of ProductsStream,
// and orders refuses a ProductChanged without a good signature.
func (e ProductChanged) Event(k *ProductKey) stream.Event {
	return stream.Event{Type: TypeProductChanged, Fields: map[string]string{
		"productId":      e.ProductID,
		"displayName":    e.DisplayName,
		"priceCents":     strconv.FormatInt(e.PriceCents, 10),
		"active":         strconv.FormatBool(e.Active),
		"productVersion": strconv.FormatInt(e.Version, 10),
		"updatedOn":      e.UpdatedOn.UTC().Format(time.RFC3339Nano),
		FieldSignature:   k.sign(e),
	}}
}

// ParseProductChanged decodes and validates a ProductChanged message and
// checks its signature with k. A change that products cannot have written
// (an id that is no id, an empty name, a price or version below 1) or
// that it did not sign is a permanent error.
func ParseProductChanged(m stream.Message, k *ProductKey) (ProductChanged, error) {
	f := fields{m: m}
	e := ProductChanged{ProductID: f.id("productId"), DisplayName: f.required("displayName")}
	e.PriceCents = f.positive("priceCents")
	e.Active = f.bool("active")
	e.Version = f.positive("productVersion")
	e.UpdatedOn = f.time("updatedOn")
	if f.err == nil && web.CheckText("displayName", e.DisplayName, 1000) != nil {
		f.err = fmt.Errorf("displayName %q is not text", e.DisplayName)
	}
	if f.err == nil {
		f.err = checkSignature(m.Fields[FieldSignature], k.mac(e))
	}
	return e, f.done(TypeProductChanged)
}

// positive reads a required field that must be an integer of at least 1.
func (f *fields) positive(name string) int64 {
	return parse(f, name, "a positive integer", func(v string) (int64, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil && n < 1 {
			err = errOutOfRange
		}
		return n, err
	})
}

// ProductKey signs ProductChanged events and checks their signatures, so
// that orders never prices an order from a change that the products
// service did not make: whoever can append to ProductsStream without the
// secret (a Redis user allowed to, a tool with admin credentials, a
// forged dead letter replayed) cannot set a price.
//
// The signature is an HMAC-SHA256 over a canonical encoding of every
// field: the event type, the product id, the display name, the price,
// whether it is active, the version and the update time, in that order,
// each string prefixed by its length. The key is derived from the
// identity secret that every service of a deployment shares
// (NewProductKey), with a label of its own, so that no other signature
// made from that secret passes for it. A ProductKey is safe for
// concurrent use.
type ProductKey struct {
	key []byte
}

// productKeyLabel separates the product-signing key from every other use
// of the shared secret.
const productKeyLabel = "streamcart ProductChanged signing key v1"

// NewProductKey derives the key that signs ProductChanged events from
// secret, the identity secret shared by the services; it must be at least
// MinSecretLen bytes.
func NewProductKey(secret []byte) (*ProductKey, error) {
	return deriveKey[ProductKey](secret, productKeyLabel, "product signing secret")
}

// sign returns the value of FieldSignature for e.
func (k *ProductKey) sign(e ProductChanged) string {
	return signaturePrefix + hex.EncodeToString(k.mac(e))
}

// mac returns the HMAC of e's canonical encoding.
func (k *ProductKey) mac(e ProductChanged) []byte {
	m := hmac.New(sha256.New, k.key)
	writeString(m, TypeProductChanged)
	writeString(m, e.ProductID)
	writeString(m, e.DisplayName)
	writeInt(m, e.PriceCents)
	active := int64(0)
	if e.Active {
		active = 1
	}
	writeInt(m, active)
	writeInt(m, e.Version)
	writeInt(m, e.UpdatedOn.UnixMicro()) // PostgreSQL keeps microseconds
	return m.Sum(nil)
}
