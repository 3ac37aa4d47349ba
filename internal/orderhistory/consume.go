package orderhistory

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/stream"
)

// handle is the batch handler of all three streams. It parses the whole
// batch first, and asks the orders service about the orders of its
// OrderPlaced events in one call, so that a malformed event, or an
// OrderPlaced of an order that orders does not have as the event says,
// fails it before anything is applied (the consumer then dead-letters
// that one event and applies the others one by one); then it merges the
// batch in one round trip.
func (s *Service) handle(ctx context.Context, msgs []stream.Message) error {
	calls := make([]mergeCall, 0, len(msgs))
	for _, m := range msgs {
		c, ok, err := s.mergeFor(m, true)
		if err != nil {
			return err // permanent already
		}
		if !ok {
			s.log.DebugContext(ctx, "ignoring event of another type", "type", m.Type, "event_id", m.ID, "stream", m.Stream)
			continue
		}
		calls = append(calls, c)
	}
	if len(calls) == 0 {
		return nil
	}
	if err := ordercheck.Check(ctx, s.cfg.Orders, placedOf(calls)); err != nil {
		return err // permanent for a refused order, Unavailable when orders cannot tell
	}
	changed, err := s.merge(ctx, calls)
	if err != nil {
		return err
	}
	s.log.DebugContext(ctx, "events merged", "events", len(calls), "changed", changed)
	return nil
}

// mergeFor turns a message into a merge call. ok is false for event types
// the history does not use; err is permanent for events that do not parse.
// publish chooses whether the script announces a change on the user's
// updates channel.
func (s *Service) mergeFor(m stream.Message, publish bool) (c mergeCall, ok bool, err error) {
	at := m.Time
	if at.IsZero() { // an envelope without a time: the entry id's time
		at = entryTime(m.EntryID)
	}
	common := func(kind, orderID, userID, by string, status events.Status, paymentID string) mergeCall {
		channel := ""
		if publish {
			channel = events.OrderUpdatesChannel(userID)
		}
		return mergeCall{
			orderID: orderID,
			userID:  userID,
			keys:    []string{s.bucketKey(orderID), s.userKey(userID)},
			args: []any{
				kind, orderID, userID,
				formatTime(at), at.UnixMilli(), by, channel,
				int(status), status.String(), status.Rank(), paymentID,
				formatTime(at) + "|" + m.ID, formatTime(time.Now()),
			},
		}
	}
	switch m.Type {
	case events.TypeOrderPlaced:
		e, err := events.ParseOrderPlaced(m, s.cfg.OrderKey)
		if err != nil {
			return mergeCall{}, false, err
		}
		c = common(kindPlaced, e.OrderID, e.UserID, e.UserID, events.StatusCreated, "").withOrder(e.Order)
		c.placed = &events.Placed{EventID: m.ID, TraceParent: m.TraceParent, Order: e}
	case events.TypeOrderSnapshot:
		e, err := events.ParseOrderSnapshot(m, s.cfg.OrderKey)
		if err != nil {
			return mergeCall{}, false, err
		}
		// A snapshot is the order as of its last change, by whoever made
		// it: it proposes the current status and payment, and the
		// fields of an OrderPlaced, which are the same in every event of
		// one order.
		at = e.UpdatedOn
		c = common(kindPlaced, e.OrderID, e.UserID, e.UpdatedBy, e.Status, e.PaymentID).withOrder(e.Order)
	case events.TypePaymentProcessed:
		e, err := events.ParsePaymentProcessed(m)
		if err != nil {
			return mergeCall{}, false, err
		}
		c = common(kindPaid, e.OrderID, e.UserID, byPayments, e.Status, e.PaymentID)
		c.args = append(c.args, e.AmountCents)
	case events.TypeIdentityScored:
		e, err := events.ParseIdentityScored(m)
		if err != nil {
			return mergeCall{}, false, err
		}
		// An identity is scored only for a placed order, so the order is
		// at least CREATED.
		c = common(kindScored, e.OrderID, e.UserID, byIdentity, events.StatusCreated, "")
		c.args = append(c.args, strconv.FormatFloat(e.Score, 'f', -1, 64), strconv.FormatBool(e.PotentialFraud))
	default:
		return mergeCall{}, false, nil
	}
	return c, true, nil
}

// placedOf returns the OrderPlaced events that calls merge.
func placedOf(calls []mergeCall) []events.Placed {
	var out []events.Placed
	for _, c := range calls {
		if c.placed != nil {
			out = append(out, *c.placed)
		}
	}
	return out
}

// withOrder returns c with the arguments that a placed order adds to the
// merge: what its OrderPlaced and its snapshots all say of it
// (events.Order).
func (c mergeCall) withOrder(o events.Order) mergeCall {
	items, _ := json.Marshal(o.Items) // a slice of plain structs always encodes
	c.args = append(c.args, string(items), o.AmountCents, formatTime(o.CreatedOn), o.CreatedOn.UnixMilli(), o.UserID)
	return c
}
