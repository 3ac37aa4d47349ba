package products

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// SampleSize is the number of products in SampleCatalog.
const SampleSize = 300

// SampleCatalog returns the demo catalog that Seed loads: SampleSize
// fashion products with ids "p-00001" upward. It is generated from the
// tables of sample_catalog.json, embedded in the binary, and a fixed seed,
// with no network or files at run time, so every call and every build
// returns the same products. UpdatedAt is left zero; the database sets it.
func SampleCatalog() []Product {
	rng := splitmix64(0x5eed_ca7a_1095)
	seen := make(map[string]bool, SampleSize)
	out := make([]Product, 0, SampleSize)
	// Brands take turns so each has a fair share; the rest is random.
	for i := 0; len(out) < SampleSize; i++ {
		if i > 100*SampleSize {
			panic("products: sample catalog generator is stuck") // a bug in the tables below
		}
		b := sampleBrands[i%len(sampleBrands)]
		a := articleTypes[b.articles[rng.intn(len(b.articles))]]
		genders := a.genders
		if b.genders != nil {
			genders = slices.DeleteFunc(slices.Clone(genders), func(g string) bool { return !slices.Contains(b.genders, g) })
		}
		if len(genders) == 0 {
			continue
		}
		gender := genders[rng.intn(len(genders))]
		colour := a.colours()[rng.intn(len(a.colours()))]
		name := fmt.Sprintf("%s %s %s %s", b.name, gender, colour, a.noun)
		if seen[name] {
			continue
		}
		seen[name] = true
		dollars := a.minUSD + rng.intn(a.maxUSD-a.minUSD+1)
		out = append(out, Product{
			ID:             fmt.Sprintf("p-%05d", len(out)+1),
			DisplayName:    name,
			Brand:          b.name,
			MasterCategory: a.master,
			SubCategory:    a.sub,
			ArticleType:    a.kind,
			Gender:         gender,
			AgeGroup:       ageGroups[gender],
			VariantName:    a.styles[rng.intn(len(a.styles))],
			Description:    describe(rng, b.name, gender, colour, a),
			PriceCents:     int64(dollars)*100 - 1,
			Currency:       Currency,
			ImageURL:       ImagePath(fmt.Sprintf("p-%05d", len(out)+1)),
			Active:         true,
		})
	}
	return out
}

// describe writes a product description of two sentences.
func describe(rng *rng, brand, gender, colour string, a articleType) string {
	who := map[string]string{
		"Men": "men", "Women": "women", "Boys": "boys", "Girls": "girls", "Unisex": "everyone",
	}[gender]
	openers := []string{
		"%[1]s %[2]s in %[3]s for %[4]s.",
		"A %[3]s take on the %[1]s %[2]s, made for %[4]s.",
		"The %[1]s %[2]s for %[4]s, here in %[3]s.",
	}
	care := []string{
		"Built to last and easy to care for.",
		"Pairs well with the rest of the %[1]s range.",
		"A reliable everyday pick.",
		"Designed for comfort from morning to night.",
	}
	first := fmt.Sprintf(openers[rng.intn(len(openers))], brand, strings.ToLower(a.noun), strings.ToLower(colour), who)
	second := care[rng.intn(len(care))]
	if strings.Contains(second, "%[1]s") {
		second = fmt.Sprintf(second, brand)
	}
	return first + " " + a.detail + " " + second
}

// ageGroups maps a gender to its age group, as in the fashion data set the
// Redis tutorial uses.
var ageGroups = map[string]string{
	"Men":    "Adults-Men",
	"Women":  "Adults-Women",
	"Boys":   "Kids-Boys",
	"Girls":  "Kids-Girls",
	"Unisex": "Adults-Unisex",
}

// articleType describes one kind of article of the sample catalog.
type articleType struct {
	master, sub, kind string
	noun              string // as it appears in display names
	genders           []string
	minUSD, maxUSD    int // prices are dollars minus one cent: 1499 to 24999
	styles            []string
	detail            string
	metal             bool // watches come in metal colours
}

func (a articleType) colours() []string {
	if a.metal {
		return metalColours
	}
	return fabricColours
}

var (
	fabricColours = []string{
		"Black", "White", "Navy Blue", "Blue", "Grey", "Red", "Green", "Olive",
		"Brown", "Maroon", "Beige", "Pink", "Purple", "Yellow", "Orange", "Charcoal",
	}
	metalColours = []string{"Silver", "Gold", "Black", "Rose Gold", "Brown", "Steel"}
)

// sampleBrand is a brand of the sample catalog and what it makes.
type sampleBrand struct {
	name     string
	articles []string
	genders  []string // nil: any
}

// sampleCatalogJSON holds the tables the sample catalog is made from: the
// article types, keyed by article type, and the brands, in the order they
// take turns. A brand makes the articles of its line (plus any extra);
// repeats in a line weigh the random pick towards the brand's signature
// articles.
//
//go:embed sample_catalog.json
var sampleCatalogJSON []byte

var articleTypes, sampleBrands = loadSampleTables(sampleCatalogJSON)

// loadSampleTables decodes sampleCatalogJSON. It panics on a bad table, a
// bug that every test of the catalog finds.
func loadSampleTables(data []byte) (map[string]articleType, []sampleBrand) {
	var tables struct {
		ArticleTypes map[string]struct {
			Master, Sub, Noun string
			Genders           []string
			USD               [2]int
			Metal             bool
			Styles            []string
			Detail            string
		}
		Lines  map[string][]string
		Brands []struct {
			Name, Line     string
			Extra, Genders []string
		}
	}
	if err := json.Unmarshal(data, &tables); err != nil {
		panic("products: sample_catalog.json: " + err.Error())
	}
	types := make(map[string]articleType, len(tables.ArticleTypes))
	for kind, a := range tables.ArticleTypes {
		types[kind] = articleType{
			master: a.Master, sub: a.Sub, kind: kind, noun: a.Noun, genders: a.Genders,
			minUSD: a.USD[0], maxUSD: a.USD[1], styles: a.Styles, detail: a.Detail, metal: a.Metal,
		}
	}
	brands := make([]sampleBrand, len(tables.Brands))
	for i, b := range tables.Brands {
		articles := append(slices.Clone(tables.Lines[b.Line]), b.Extra...)
		for _, a := range articles {
			if _, ok := types[a]; !ok {
				panic("products: sample_catalog.json: brand " + b.Name + " makes unknown article type " + a)
			}
		}
		brands[i] = sampleBrand{name: b.Name, articles: articles, genders: b.Genders}
	}
	return types, brands
}

// rng is splitmix64: tiny, and its sequence is fixed by this code rather
// than by a library that might change it.
type rng struct{ state uint64 }

func splitmix64(seed uint64) *rng { return &rng{state: seed} }

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); the modulo bias is irrelevant here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }
