package products_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/products"
)

func TestSampleCatalogIsDeterministic(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(products.SampleCatalog(), products.SampleCatalog()); diff != "" {
		t.Errorf("two calls differ (-first +second):\n%s", diff)
	}
}

func TestSampleCatalogProducts(t *testing.T) {
	t.Parallel()
	catalog := products.SampleCatalog()
	if len(catalog) < 240 {
		t.Fatalf("len(SampleCatalog()) = %d, want at least 240", len(catalog))
	}
	idRE := regexp.MustCompile(`^p-\d{5}$`)
	ids, names := map[string]bool{}, map[string]bool{}
	for i, p := range catalog {
		if want := fmt.Sprintf("p-%05d", i+1); p.ID != want || !idRE.MatchString(p.ID) {
			t.Errorf("catalog[%d].ID = %q, want %q", i, p.ID, want)
		}
		if ids[p.ID] || names[p.DisplayName] {
			t.Errorf("%s: duplicate id or name %q", p.ID, p.DisplayName)
		}
		ids[p.ID], names[p.DisplayName] = true, true
		if p.PriceCents < 1499 || p.PriceCents > 24999 || p.PriceCents%100 != 99 {
			t.Errorf("%s: PriceCents = %d, want 1499..24999 ending in 99", p.ID, p.PriceCents)
		}
		if !strings.HasPrefix(p.DisplayName, p.Brand+" "+p.Gender+" ") {
			t.Errorf("%s: DisplayName %q does not start with brand and gender %q %q", p.ID, p.DisplayName, p.Brand, p.Gender)
		}
		for field, v := range map[string]string{
			"MasterCategory": p.MasterCategory, "SubCategory": p.SubCategory, "ArticleType": p.ArticleType,
			"AgeGroup": p.AgeGroup, "VariantName": p.VariantName, "Description": p.Description,
		} {
			if v == "" {
				t.Errorf("%s: %s is empty", p.ID, field)
			}
		}
		if p.Currency != "USD" || !p.Active || p.ImageURL != "/products/"+p.ID+"/image.svg" {
			t.Errorf("%s: Currency, Active, ImageURL = %q, %v, %q", p.ID, p.Currency, p.Active, p.ImageURL)
		}
	}
}

func TestSampleCatalogCoverage(t *testing.T) {
	t.Parallel()
	catalog := products.SampleCatalog()
	has := func(f func(products.Product) bool) bool { return slices.ContainsFunc(catalog, f) }
	for _, brand := range []string{"Puma", "Nike", "Adidas", "Levis", "Fossil"} {
		if !has(func(p products.Product) bool { return p.Brand == brand }) {
			t.Errorf("no product of brand %q", brand)
		}
	}
	for _, cat := range []string{"Apparel/Topwear", "Apparel/Bottomwear", "Footwear/Shoes", "Accessories/Watches", "Accessories/Bags"} {
		if !has(func(p products.Product) bool { return p.MasterCategory+"/"+p.SubCategory == cat }) {
			t.Errorf("no product in category %q", cat)
		}
	}
	for _, group := range []string{"Adults-Men", "Adults-Women", "Kids-Boys", "Kids-Girls", "Adults-Unisex"} {
		if !has(func(p products.Product) bool { return p.AgeGroup == group }) {
			t.Errorf("no product for age group %q", group)
		}
	}
	if !has(func(p products.Product) bool { return p.DisplayName == "Puma Men Black Running Shoes" }) &&
		!has(func(p products.Product) bool { return strings.HasPrefix(p.DisplayName, "Puma Men ") }) {
		t.Errorf("no men's Puma product")
	}
}
