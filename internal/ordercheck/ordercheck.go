// Package ordercheck lets the consumers of OrderPlaced events (payments,
// identity and the order history) ask the orders service, the system of
// record, whether each order they are told of exists as told, before they
// pay it, score it or show it.
//
// A good signature (events.OrderKey) proves that an OrderPlaced was
// written with the services' shared secret, not that orders stored the
// order: whoever holds the secret can sign an order that was never
// placed. Orders commits an order's row before its OrderPlaced reaches
// the stream (the outbox), so an order that orders does not have, or has
// with another user or amount than its event says, is poison for good:
// Check refuses it with a permanent error (stream.Permanent), which
// dead-letters the entry while the rest of the stream goes on. When
// orders cannot answer, the error is stream.Unavailable instead: the
// batch waits for orders and is never dead-lettered for it.
//
// Check asks about a whole batch in one call of the orders service (POST
// /orders/lookup, Client), so the check costs one HTTP round trip per
// batch, not per entry. The package also holds that route's contract,
// Order and MaxIDs, which the orders service answers with.
package ordercheck

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"streamcart/internal/events"
	"streamcart/internal/money"
	"streamcart/internal/stream"
)

// Order is what the orders service says of one of its orders: an element
// of the answer of POST /orders/lookup.
type Order struct {
	OrderID     string `json:"orderId"`
	UserID      string `json:"userId"`
	AmountCents int64  `json:"amountCents"`
}

// MaxIDs is the most order ids one POST /orders/lookup may ask about.
const MaxIDs = 1000

// Lookup tells which of a set of order ids are orders. Client asks the
// orders service; Known holds orders in memory, for tests.
type Lookup interface {
	// Lookup returns the orders among ids, by id: an id that is no order
	// is not in the map. An error means that it could not tell.
	Lookup(ctx context.Context, ids []string) (map[string]Order, error)
}

// Errors wrapped by the refusals of Refused and Check.
var (
	// ErrUnknown: the orders service has no order of that id.
	ErrUnknown = errors.New("the orders service has no such order")
	// ErrMismatch: the orders service has the order, of another user or
	// amount than the event says.
	ErrMismatch = errors.New("the event does not match the order in the orders service")
)

// Refused asks l about every order of os in one call and returns why
// each one is refused, in the order of os: nil for an order that the
// orders service has as os says, else an error wrapping ErrUnknown or
// ErrMismatch. When l cannot tell, the error is marked
// stream.Unavailable.
func Refused(ctx context.Context, l Lookup, os []events.OrderPlaced) ([]error, error) {
	if len(os) == 0 {
		return nil, nil
	}
	ids := make([]string, len(os))
	for i, o := range os {
		ids[i] = o.OrderID
	}
	known, err := l.Lookup(ctx, ids)
	if err != nil {
		return nil, stream.Unavailable(fmt.Errorf("ask the orders service about %d orders: %w", len(ids), err))
	}
	why := make([]error, len(os))
	for i, o := range os {
		k, ok := known[o.OrderID]
		switch {
		case !ok:
			why[i] = fmt.Errorf("order %s: %w", o.OrderID, ErrUnknown)
		case k.UserID != o.UserID || k.AmountCents != o.AmountCents:
			why[i] = fmt.Errorf("order %s: %w: it is user %s's, of %s; the event says user %s's, of %s",
				o.OrderID, ErrMismatch, k.UserID, money.Format(k.AmountCents), o.UserID, money.Format(o.AmountCents))
		}
	}
	return why, nil
}

// Check asks l about the order of every event of batch in one call. It
// returns nil when the orders service has each as its event says; else a
// permanent error that names the first event that it refuses (see
// Refused), so that the consumer dead-letters that entry and handles the
// others without it; and an Unavailable error when l cannot tell.
func Check(ctx context.Context, l Lookup, batch []events.Placed) error {
	os := make([]events.OrderPlaced, len(batch))
	for i, p := range batch {
		os[i] = p.Order
	}
	why, err := Refused(ctx, l, os)
	if err != nil {
		return err
	}
	for i, p := range batch {
		if why[i] != nil {
			return stream.Permanent(fmt.Errorf("%s %s: %w", events.TypeOrderPlaced, p.EventID, why[i]))
		}
	}
	return nil
}

// Known is a Lookup over the orders added to it: it stands in for the
// orders service where none runs, in tests. It is safe for concurrent
// use; the zero value knows no order.
type Known struct {
	mu     sync.Mutex
	orders map[string]Order
}

// Add makes k know each of os, as the orders service knows the orders it
// stored.
func (k *Known) Add(os ...events.OrderPlaced) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.orders == nil {
		k.orders = map[string]Order{}
	}
	for _, o := range os {
		k.orders[o.OrderID] = Order{OrderID: o.OrderID, UserID: o.UserID, AmountCents: o.AmountCents}
	}
}

// AddPublished makes k know the order of each OrderPlaced among evs that
// is valid and signed with key (events.ParseOrderPlaced), as the orders
// service knows every order it publishes; other events are left out. It
// is for tests that publish OrderPlaced events themselves.
func (k *Known) AddPublished(key *events.OrderKey, evs ...stream.Event) {
	for _, ev := range evs {
		if ev.Type != events.TypeOrderPlaced {
			continue
		}
		m := stream.Message{Event: ev}
		if m.Version == 0 { // as Publish writes it
			m.Version = events.Version
		}
		if o, err := events.ParseOrderPlaced(m, key); err == nil {
			k.Add(o)
		}
	}
}

// Lookup implements Lookup; it never fails.
func (k *Known) Lookup(_ context.Context, ids []string) (map[string]Order, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]Order, len(ids))
	for _, id := range ids {
		if o, ok := k.orders[id]; ok {
			out[id] = o
		}
	}
	return out, nil
}
