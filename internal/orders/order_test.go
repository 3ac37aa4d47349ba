package orders

import (
	"errors"
	"streamcart/internal/platform/errs"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	price := func(c int64) *int64 { return &c }
	many := make([]ItemRequest, MaxItems+1)
	for i := range many {
		many[i] = ItemRequest{ProductID: "p-" + strings.Repeat("x", i+1), Qty: 1}
	}
	tests := []struct {
		name string
		req  CreateRequest
		code string // "" = valid
	}{
		{"one item", CreateRequest{Items: []ItemRequest{{ProductID: "p-00001", Qty: 1}}}, ""},
		{"max qty and a price", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: MaxQty, PriceCents: price(1)}}}, ""},
		{"max items", CreateRequest{Items: many[:MaxItems]}, ""},
		{"no items", CreateRequest{}, "empty_order"},
		{"too many items", CreateRequest{Items: many}, "too_many_items"},
		{"zero qty", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 0}}}, "invalid_qty"},
		{"qty above max", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: MaxQty + 1}}}, "invalid_qty"},
		{"duplicate", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 1}, {ProductID: "p-1", Qty: 1}}}, "duplicate_product"},
		{"empty id", CreateRequest{Items: []ItemRequest{{Qty: 1}}}, "invalid_product_id"},
		{"id with space", CreateRequest{Items: []ItemRequest{{ProductID: "p 1", Qty: 1}}}, "invalid_product_id"},
		{"unicode id", CreateRequest{Items: []ItemRequest{{ProductID: "p-é", Qty: 1}}}, "invalid_product_id"},
		{"long id", CreateRequest{Items: []ItemRequest{{ProductID: strings.Repeat("p", 65), Qty: 1}}}, "invalid_product_id"},
		{"zero price", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 1, PriceCents: price(0)}}}, "invalid_price"},
	}
	for _, tt := range tests {
		err := tt.req.Validate()
		var we *errs.Error
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.code != "" && (!errors.As(err, &we) || we.Code != tt.code || we.Kind != errs.KindInvalid || we.Message == ""):
			t.Errorf("%s: Validate() = %v, want a 400 %s with a message", tt.name, err, tt.code)
		}
	}
}

func TestRequestHashTellsRequestsApart(t *testing.T) {
	a := CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 1}}}
	b := CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 2}}}
	if a.hash() == b.hash() || a.hash() != (CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 1}}}).hash() {
		t.Error("hash does not identify a request's content")
	}
}
