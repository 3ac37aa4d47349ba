package products

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/platform/errs"
)

// invalidField returns the input that err, an Invalid error with code
// "invalid_request", names; "" for any other error.
func invalidField(err error) string {
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.KindInvalid || e.Code != "invalid_request" {
		return ""
	}
	field, _, _ := strings.Cut(e.Message, " ")
	return field
}

func TestQueryNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      Query
		want    Query
		wantErr string // field an invalid_request error names, "" for none
	}{
		{Query{}, Query{Limit: DefaultLimit}, ""},
		{Query{Q: "  puma ", Category: " Footwear ", Limit: 5, Offset: 10}, Query{Q: "puma", Category: "Footwear", Limit: 5, Offset: 10}, ""},
		{Query{Limit: MaxLimit}, Query{Limit: MaxLimit}, ""},
		{Query{Limit: -1}, Query{}, "limit"},
		{Query{Limit: MaxLimit + 1}, Query{}, "limit"},
		{Query{Offset: -1}, Query{}, "offset"},
		{Query{Offset: MaxOffset + 1}, Query{}, "offset"},
		{Query{Q: strings.Repeat("x", 201)}, Query{}, "q"},
		{Query{Category: strings.Repeat("x", 201)}, Query{}, "category"},
		{Query{Q: "a\x00"}, Query{}, "q"},
		{Query{Q: "\xff"}, Query{}, "q"},
		{Query{Category: "Foot\x00wear"}, Query{}, "category"},
		{Query{Q: "été"}, Query{Q: "été", Limit: DefaultLimit}, ""},
	}
	for _, tt := range tests {
		got, err := tt.in.normalize()
		if tt.wantErr != "" {
			if got := invalidField(err); got != tt.wantErr {
				t.Errorf("%+v.normalize() error = %v, want invalid_request naming %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v.normalize() error = %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%+v.normalize() = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestQueryCategories(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, master, sub string }{
		{"", "", ""},
		{"Footwear", "Footwear", ""},
		{"Footwear/Shoes", "Footwear", "Shoes"},
		{"Footwear / Shoes", "Footwear", "Shoes"},
		{"/Shoes", "", "Shoes"},
	}
	for _, tt := range tests {
		master, sub := Query{Category: tt.in}.categories()
		if master != tt.master || sub != tt.sub {
			t.Errorf("categories(%q) = %q, %q; want %q, %q", tt.in, master, sub, tt.master, tt.sub)
		}
	}
}

func TestPatchNormalize(t *testing.T) {
	t.Parallel()
	price := func(n int64) *int64 { return &n }
	name := func(s string) *string { return &s }
	no := false
	tests := []struct {
		in       Patch
		wantName string
		wantErr  string
	}{
		{Patch{PriceCents: price(1999)}, "", ""},
		{Patch{Active: &no}, "", ""},
		{Patch{DisplayName: name("  New name ")}, "New name", ""},
		{Patch{PriceCents: price(MaxPriceCents)}, "", ""},
		{Patch{}, "", "patch"},
		{Patch{PriceCents: price(0)}, "", "priceCents"},
		{Patch{PriceCents: price(-5)}, "", "priceCents"},
		{Patch{PriceCents: price(MaxPriceCents + 1)}, "", "priceCents"},
		{Patch{DisplayName: name("   ")}, "", "displayName"},
		{Patch{DisplayName: name(strings.Repeat("é", 201))}, "", "displayName"},
		{Patch{DisplayName: name("\xff")}, "", "displayName"},
	}
	for _, tt := range tests {
		got, err := tt.in.normalize()
		switch {
		case tt.wantErr != "" && invalidField(err) != tt.wantErr:
			t.Errorf("normalize(%s) error = %v, want invalid_request naming %q", show(tt.in), err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("normalize(%s) error = %v", show(tt.in), err)
		case tt.wantName != "" && *got.DisplayName != tt.wantName:
			t.Errorf("normalize(%s).DisplayName = %q, want %q", show(tt.in), *got.DisplayName, tt.wantName)
		}
	}
}

// show formats a Patch with the values its pointers point to.
func show(p Patch) string {
	s := "{"
	if p.PriceCents != nil {
		s += fmt.Sprintf(" priceCents=%d", *p.PriceCents)
	}
	if p.Active != nil {
		s += fmt.Sprintf(" active=%v", *p.Active)
	}
	if p.DisplayName != nil {
		s += fmt.Sprintf(" displayName=%q", *p.DisplayName)
	}
	return s + " }"
}

func TestCheckLookup(t *testing.T) {
	t.Parallel()
	many := make([]string, MaxLookup+1)
	for i := range many {
		many[i] = fmt.Sprintf("p-%05d", i)
	}
	tests := []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{[]string{"p-2", "p-1", "p-2", "p-3", "p-1"}, []string{"p-2", "p-1", "p-3"}, false},
		{many[:MaxLookup], many[:MaxLookup], false},
		{nil, nil, true},
		{many, nil, true},
		{[]string{"p-1", ""}, nil, true},
		{[]string{strings.Repeat("x", 65)}, nil, true},
		{[]string{"p-1", "p 2"}, nil, true},
		{[]string{"p-1/../x"}, nil, true},
	}
	for _, tt := range tests {
		got, err := checkLookup(tt.in)
		if (err != nil) != tt.wantErr || (err != nil && invalidField(err) != "ids") {
			t.Errorf("checkLookup(%d ids) error = %v, want error %v", len(tt.in), err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("checkLookup(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestEscapeLike(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"puma", "puma"},
		{"100%", `100\%`},
		{"t_shirt", `t\_shirt`},
		{`a\b`, `a\\b`},
	}
	for _, tt := range tests {
		if got := escapeLike(tt.in); got != tt.want {
			t.Errorf("escapeLike(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
