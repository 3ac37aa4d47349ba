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

// OrderKey signs OrderPlaced and OrderSnapshot events and checks their
// signatures, so that payments never pays, identity never scores and the
// order history never shows an order that the orders service did not
// create: whoever can append to ORDERS_STREAM or ORDER_SNAPSHOTS without
// the secret (a Redis user allowed to, a tool with admin credentials, a
// forged dead letter replayed) cannot make an event its consumers accept.
//
// The signature is an HMAC-SHA256 over a canonical encoding of what a
// payment and a score depend on: the event type, the order id, the user
// id, the amount, the creation time and every line (product id, quantity,
// unit price), in that order, each string prefixed by its length; an
// OrderSnapshot's also covers its status, payment id, update time and
// updater. The type keeps the kinds apart: an OrderPlaced's signature
// never passes for a snapshot's. The browser agent and address are hints
// for the identity score and are not signed.
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
	return deriveKey[OrderKey](secret, orderKeyLabel, "order signing secret")
}

// deriveKey returns the key K of label derived from secret, which must be
// at least MinSecretLen bytes; what names the secret in the error.
func deriveKey[K OrderKey | ProductKey](secret []byte, label, what string) (*K, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%s: %d bytes, want at least %d", what, len(secret), MinSecretLen)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return &K{key: m.Sum(nil)}, nil
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
	return checkSignature(sig, k.mac(e))
}

// signSnapshot returns the value of FieldSignature for e.
func (k *OrderKey) signSnapshot(e OrderSnapshot) string {
	return signaturePrefix + hex.EncodeToString(k.macSnapshot(e))
}

// verifySnapshot checks that sig is k's signature of e.
func (k *OrderKey) verifySnapshot(e OrderSnapshot, sig string) error {
	return checkSignature(sig, k.macSnapshot(e))
}

// checkSignature checks that sig is the signature whose HMAC is want.
func checkSignature(sig string, want []byte) error {
	h, ok := strings.CutPrefix(sig, signaturePrefix)
	if !ok {
		return errBadSignature
	}
	got, err := hex.DecodeString(h)
	if err != nil || !hmac.Equal(got, want) {
		return errBadSignature
	}
	return nil
}

// mac returns the HMAC of e's canonical encoding.
func (k *OrderKey) mac(e OrderPlaced) []byte {
	m := k.order(TypeOrderPlaced, e.Order)
	return m.Sum(nil)
}

// macSnapshot returns the HMAC of e's canonical encoding: the type, then
// the fields an OrderPlaced signs, then the status, payment and update.
func (k *OrderKey) macSnapshot(e OrderSnapshot) []byte {
	m := k.order(TypeOrderSnapshot, e.Order)
	writeInt(m, int64(e.Status))
	writeString(m, e.PaymentID)
	writeInt(m, e.UpdatedOn.UnixMicro())
	writeString(m, e.UpdatedBy)
	return m.Sum(nil)
}

// order returns an HMAC that has written the event type typ, which keeps
// the signatures of different kinds apart, and o's fields.
func (k *OrderKey) order(typ string, o Order) hash.Hash {
	m := hmac.New(sha256.New, k.key)
	writeString(m, typ)
	writeString(m, o.OrderID)
	writeString(m, o.UserID)
	writeInt(m, o.AmountCents)
	writeInt(m, o.CreatedOn.UnixMicro()) // orders keeps microseconds
	writeInt(m, int64(len(o.Items)))
	for _, it := range o.Items {
		writeString(m, it.ProductID)
		writeInt(m, int64(it.Qty))
		writeInt(m, it.PriceCents)
	}
	return m
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
