package orderhistory

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"streamcart/internal/events"
)

// Record is an order as the history shows it, in the JSON shape of both
// the HTTP API and the updates channel. Fields that no event has told yet
// are zero: an order known only from its payment has no Items and a nil
// CreatedOn; IdentityScore is nil until the order is scored.
type Record struct {
	OrderID     string            `json:"orderId"`
	UserID      string            `json:"userId"`
	Status      events.Status     `json:"status"`
	StatusName  string            `json:"statusName"`
	AmountCents int64             `json:"amountCents"`
	PaymentID   string            `json:"paymentId"`
	Items       []events.LineItem `json:"items"`
	// CreatedOn is when the order was placed; nil until its OrderPlaced
	// arrives.
	CreatedOn     *time.Time `json:"createdOn"`
	CreatedBy     string     `json:"createdBy"`
	LastUpdatedOn time.Time  `json:"lastUpdatedOn"`
	// LastUpdatedBy is who made the latest event: the user, "payments" or
	// "identity".
	LastUpdatedBy  string   `json:"lastUpdatedBy"`
	IdentityScore  *float64 `json:"identityScore"`
	PotentialFraud bool     `json:"potentialFraud"`
}

// recordFields decodes a record as the model stores it, a JSON object
// whose values are strings, into its fields; "" (no record) is none.
func recordFields(stored string) (map[string]string, error) {
	h := map[string]string{}
	if stored == "" {
		return h, nil
	}
	if err := json.Unmarshal([]byte(stored), &h); err != nil {
		return nil, fmt.Errorf("corrupt history record: %w", err)
	}
	return h, nil
}

// parseRecord reads a record from its fields (recordFields).
func parseRecord(h map[string]string) (Record, error) {
	r := Record{
		OrderID:       h["orderId"],
		UserID:        h["userId"],
		PaymentID:     h["paymentId"],
		CreatedBy:     h["createdBy"],
		LastUpdatedBy: h["lastUpdatedBy"],
		Items:         []events.LineItem{},
	}
	var errs []error
	status, err := strconv.Atoi(h["status"])
	errs = append(errs, err)
	r.Status = events.Status(status)
	r.StatusName = r.Status.String()
	if v := h["amountCents"]; v != "" {
		r.AmountCents, err = strconv.ParseInt(v, 10, 64)
		errs = append(errs, err)
	}
	if v := h["items"]; v != "" {
		errs = append(errs, json.Unmarshal([]byte(v), &r.Items))
	}
	if v := h["createdOn"]; v != "" {
		t, err := time.Parse(time.RFC3339, v)
		errs = append(errs, err)
		r.CreatedOn = &t
	}
	r.LastUpdatedOn, err = time.Parse(time.RFC3339, h["lastUpdatedOn"])
	errs = append(errs, err)
	if v := h["identityScore"]; v != "" {
		f, err := strconv.ParseFloat(v, 64)
		errs = append(errs, err)
		r.IdentityScore = &f
	}
	if v := h["potentialFraud"]; v != "" {
		r.PotentialFraud, err = strconv.ParseBool(v)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Record{}, fmt.Errorf("corrupt history record: %w", err)
	}
	return r, nil
}
