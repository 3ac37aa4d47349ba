package products

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// ErrNotFound means no product has the requested id. The Service returns
// it wrapped; callers test for it with errors.Is. Clients see code
// "not_found".
var ErrNotFound = errs.NotFound("not_found", "product not found")

// invalid returns the Invalid error of a request that breaks a rule: code
// "invalid_request", and a message that names the input (a query
// parameter or a JSON field) and the rule, e.g. "limit must be between 1
// and 100, not 500".
func invalid(field, format string, args ...any) *errs.Error {
	return errs.Invalid("invalid_request", "%s %s", field, fmt.Sprintf(format, args...))
}

// Limits of the API.
const (
	// DefaultLimit is the page size of a Query whose Limit is zero.
	DefaultLimit = 24
	// MaxLimit is the largest page size of a Query.
	MaxLimit = 100
	// MaxOffset is the largest offset of a Query: deep paging is for
	// crawlers, and each page costs a scan of everything before it.
	MaxOffset = 10_000
	// MaxLookup is the most ids one Lookup takes.
	MaxLookup = 100
	// MaxSnapshotPage is the most products one Snapshot page holds.
	MaxSnapshotPage = 1000
	// MaxPriceCents is the highest price a Patch may set: 1,000,000.00.
	MaxPriceCents = 100_000_000

	maxQueryLen       = 200
	maxDisplayNameLen = 200
)

// Currency is the currency of every price in the catalog.
const Currency = "USD"

// Product is an item of the catalog. Prices are integer cents of Currency.
type Product struct {
	ID             string    `json:"id"`
	DisplayName    string    `json:"displayName"`
	Brand          string    `json:"brand"`
	MasterCategory string    `json:"masterCategory"`
	SubCategory    string    `json:"subCategory"`
	ArticleType    string    `json:"articleType"`
	Gender         string    `json:"gender"`
	AgeGroup       string    `json:"ageGroup"`
	VariantName    string    `json:"variantName"`
	Description    string    `json:"description"`
	PriceCents     int64     `json:"priceCents"`
	Currency       string    `json:"currency"`
	ImageURL       string    `json:"imageUrl"`
	Active         bool      `json:"active"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// ImagePath returns the path, relative to the service's root, of the image
// of the product with id: /products/{id}/image.svg.
func ImagePath(id string) string { return "/products/" + id + "/image.svg" }

// Query selects a page of active products for Search.
type Query struct {
	// Q is a case-insensitive substring of the display name; empty matches
	// every product.
	Q string
	// Category is a master category ("Footwear") or a master and a sub
	// category joined by a slash ("Footwear/Shoes"), matched without
	// regard to case; empty matches every category.
	Category string
	// Limit is the page size, 1 to MaxLimit; zero means DefaultLimit.
	Limit int
	// Offset is how many matching products to skip, 0 to MaxOffset.
	Offset int
}

// normalize trims q's text fields, applies the default limit and checks
// the rest.
func (q Query) normalize() (Query, error) {
	q.Q = strings.TrimSpace(q.Q)
	q.Category = strings.TrimSpace(q.Category)
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	switch {
	case q.Limit < 1 || q.Limit > MaxLimit:
		return q, invalid("limit", "must be between 1 and %d, not %d", MaxLimit, q.Limit)
	case q.Offset < 0 || q.Offset > MaxOffset:
		return q, invalid("offset", "must be between 0 and %d, not %d", MaxOffset, q.Offset)
	case len(q.Q) > maxQueryLen:
		return q, invalid("q", "must be at most %d bytes long", maxQueryLen)
	case len(q.Category) > maxQueryLen:
		return q, invalid("category", "must be at most %d bytes long", maxQueryLen)
	case !isText(q.Q):
		return q, invalid("q", "must be UTF-8 text without NUL or control characters")
	case !isText(q.Category):
		return q, invalid("category", "must be UTF-8 text without NUL or control characters")
	}
	return q, nil
}

// categories splits q.Category into its master and sub category.
func (q Query) categories() (master, sub string) {
	master, sub, _ = strings.Cut(q.Category, "/")
	return strings.TrimSpace(master), strings.TrimSpace(sub)
}

// Page is one page of a Search.
type Page struct {
	// Products are the page's products, ordered by display name, then id.
	Products []Product `json:"products"`
	// Total is how many active products match the query, on all pages.
	Total int `json:"total"`
	// Limit and Offset are those of the query, after defaults.
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// Patch changes some fields of a product; nil fields are left alone.
type Patch struct {
	// PriceCents is the new price, 1 to MaxPriceCents.
	PriceCents *int64 `json:"priceCents"`
	// Active lists (true) or delists (false) the product. Delisted
	// products leave Search, Lookup and Categories but Get still finds
	// them, so that past orders can show what was bought.
	Active *bool `json:"active"`
	// DisplayName is the new name; surrounding space is trimmed and it
	// must not be empty.
	DisplayName *string `json:"displayName"`
}

// normalize trims the display name and checks every field set.
func (p Patch) normalize() (Patch, error) {
	if p.PriceCents == nil && p.Active == nil && p.DisplayName == nil {
		return p, invalid("patch", "must set at least one of priceCents, active and displayName")
	}
	if p.PriceCents != nil && (*p.PriceCents <= 0 || *p.PriceCents > MaxPriceCents) {
		return p, invalid("priceCents", "must be between 1 and %d cents, not %d", MaxPriceCents, *p.PriceCents)
	}
	if p.DisplayName != nil {
		name := strings.TrimSpace(*p.DisplayName)
		switch {
		case name == "":
			return p, invalid("displayName", "must not be empty")
		case !isText(name) || utf8.RuneCountInString(name) > maxDisplayNameLen:
			return p, invalid("displayName", "must be valid text of at most %d characters", maxDisplayNameLen)
		}
		p.DisplayName = &name
	}
	return p, nil
}

// isText reports whether s can be stored and searched as text: UTF-8
// without NUL (which PostgreSQL refuses) or other control characters.
func isText(s string) bool {
	return web.CheckText("", s, len(s)) == nil
}

// checkLookup checks the ids of a Lookup and returns them without
// duplicates, each at its first position.
func checkLookup(ids []string) ([]string, error) {
	if len(ids) < 1 || len(ids) > MaxLookup {
		return nil, invalid("ids", "must hold 1 to %d product ids, not %d", MaxLookup, len(ids))
	}
	seen := make(map[string]bool, len(ids))
	uniq := make([]string, 0, len(ids))
	for i, id := range ids {
		if !web.ValidID(id) {
			return nil, invalid("ids", "[%d] must be a product id: 1 to %d letters, digits, '-' or '_'", i, web.MaxIDLen)
		}
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	return uniq, nil
}

// Category is a master category with the number of active products in
// each of its sub categories.
type Category struct {
	Name          string        `json:"name"`
	Count         int           `json:"count"`
	SubCategories []SubCategory `json:"subCategories"`
}

// SubCategory is a sub category with its number of active products.
type SubCategory struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}
