package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// FieldSignature is the OrderPlaced payload field that holds the order's
// signature: "v1:" and the hex HMAC-SHA256 of the order's canonical
// encoding (see OrderKey).
const FieldSignature = "signature"

// signaturePrefix names the signature scheme, so that a later one can be
// told apart.
const signaturePrefix = "v1:"

// MinSecretLen is the least length of the secret an OrderKey is made from.
const MinSecretLen = 32

// OrderKey signs OrderPlaced events and checks their signatures, so that
// payments never pays, identity never scores and the order history never
// shows an order that the orders service did not create: whoever can
// append to ORDERS_STREAM without the secret (a Redis user allowed to, a
// tool with admin credentials, a forged dead letter replayed) cannot make
// an OrderPlaced its consumers accept.
//
// The signature is an HMAC-SHA256 over a canonical encoding of what a
// payment and a score depend on: the order id, the user id, the amount,
// the creation time and every line (product id, quantity, unit price), in
// that order, each string prefixed by its length. The browser agent and
// address are hints for the identity score and are not signed.
//
// The key is derived from the identity secret that every service of a
// deployment already shares (NewOrderKey), with a label of its own, so
// that a signature of one kind can never pass for the other. An OrderKey
// is safe for concurrent use.
type OrderKey struct {
	key []byte
}

// orderKeyLabel separates the order-signing key from every other use of
// the shared secret.
const orderKeyLabel = "streamcart OrderPlaced signing key v1"

// NewOrderKey derives the key that signs OrderPlaced events from secret,
// the identity secret shared by the services; it must be at least
// MinSecretLen bytes.
func NewOrderKey(secret []byte) (*OrderKey, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("order signing secret: %d bytes, want at least %d", len(secret), MinSecretLen)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(orderKeyLabel))
	return &OrderKey{key: m.Sum(nil)}, nil
}

// sign returns the value of FieldSignature for e.
func (k *OrderKey) sign(e OrderPlaced) string {
	return signaturePrefix + hex.EncodeToString(k.mac(e))
}

// errBadSignature is the error of an OrderPlaced whose signature does not
// check out; it says nothing about why, on purpose.
var errBadSignature = errors.New("signature is missing or not the orders service's")

// verify checks that sig is k's signature of e.
func (k *OrderKey) verify(e OrderPlaced, sig string) error {
	h, ok := strings.CutPrefix(sig, signaturePrefix)
	if !ok {
		return errBadSignature
	}
	got, err := hex.DecodeString(h)
	if err != nil || !hmac.Equal(got, k.mac(e)) {
		return errBadSignature
	}
	return nil
}

// mac returns the HMAC of e's canonical encoding.
func (k *OrderKey) mac(e OrderPlaced) []byte {
	m := hmac.New(sha256.New, k.key)
	writeString(m, TypeOrderPlaced)
	writeString(m, e.OrderID)
	writeString(m, e.UserID)
	writeInt(m, e.AmountCents)
	writeInt(m, e.CreatedOn.UnixMicro()) // orders keeps microseconds
	writeInt(m, int64(len(e.Items)))
	for _, it := range e.Items {
		writeString(m, it.ProductID)
		writeInt(m, int64(it.Qty))
		writeInt(m, it.PriceCents)
	}
	return m.Sum(nil)
}

func writeString(h hash.Hash, s string) {
	writeInt(h, int64(len(s)))
	h.Write([]byte(s))
}

func writeInt(h hash.Hash, n int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}
