package products

import (
	"fmt"
	"slices"
	"strings"
)

// SampleSize is the number of products in SampleCatalog.
const SampleSize = 300

// SampleCatalog returns the demo catalog that Seed loads: SampleSize
// fashion products with ids "p-00001" upward. It is generated, with no
// network or data files, from a fixed seed, so every call and every build
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
	everyone     = []string{"Men", "Women", "Boys", "Girls"}
	adults       = []string{"Men", "Women"}
	adultsUnisex = []string{"Men", "Women", "Unisex"}
	female       = []string{"Women", "Girls"}

	fabricColours = []string{
		"Black", "White", "Navy Blue", "Blue", "Grey", "Red", "Green", "Olive",
		"Brown", "Maroon", "Beige", "Pink", "Purple", "Yellow", "Orange", "Charcoal",
	}
	metalColours = []string{"Silver", "Gold", "Black", "Rose Gold", "Brown", "Steel"}
)

// articleTypes is keyed by article type.
var articleTypes = map[string]articleType{
	"Tshirts": {master: "Apparel", sub: "Topwear", kind: "Tshirts", noun: "T-shirt", genders: everyone, minUSD: 15, maxUSD: 45,
		styles: []string{"Essential Crew Tee", "Graphic Tee", "Dry Fit Tee", "Slim Polo", "Logo Tee"},
		detail: "Soft cotton jersey with a regular fit."},
	"Shirts": {master: "Apparel", sub: "Topwear", kind: "Shirts", noun: "Shirt", genders: everyone, minUSD: 25, maxUSD: 70,
		styles: []string{"Oxford Button Down", "Slim Fit Check", "Linen Casual", "Classic Poplin"},
		detail: "Woven cotton with a spread collar."},
	"Sweatshirts": {master: "Apparel", sub: "Topwear", kind: "Sweatshirts", noun: "Sweatshirt", genders: everyone, minUSD: 35, maxUSD: 85,
		styles: []string{"Fleece Crew", "Essential Hoodie", "Club Pullover"},
		detail: "Brushed fleece inside to keep warm."},
	"Jackets": {master: "Apparel", sub: "Topwear", kind: "Jackets", noun: "Jacket", genders: everyone, minUSD: 60, maxUSD: 199,
		styles: []string{"Windrunner", "Trucker Denim", "Padded Bomber", "Storm Shell"},
		detail: "Wind resistant with zip pockets."},
	"Tops": {master: "Apparel", sub: "Topwear", kind: "Tops", noun: "Top", genders: female, minUSD: 20, maxUSD: 55,
		styles: []string{"Wrap Top", "Ruffle Blouse", "Tank Top", "Peplum Top"},
		detail: "Light and breathable fabric."},
	"Jeans": {master: "Apparel", sub: "Bottomwear", kind: "Jeans", noun: "Jeans", genders: everyone, minUSD: 40, maxUSD: 120,
		styles: []string{"511 Slim", "501 Original", "Skinny Stretch", "Relaxed Straight", "Bootcut"},
		detail: "Stretch denim with five pockets."},
	"Track Pants": {master: "Apparel", sub: "Bottomwear", kind: "Track Pants", noun: "Track Pants", genders: everyone, minUSD: 30, maxUSD: 75,
		styles: []string{"Tricot Track", "Tapered Jogger", "Tech Fleece Jogger"},
		detail: "Elastic waist with a drawcord."},
	"Shorts": {master: "Apparel", sub: "Bottomwear", kind: "Shorts", noun: "Shorts", genders: everyone, minUSD: 18, maxUSD: 45,
		styles: []string{"Running Short", "Chino Short", "Denim Cut-Off"},
		detail: "Quick drying with side pockets."},
	"Trousers": {master: "Apparel", sub: "Bottomwear", kind: "Trousers", noun: "Trousers", genders: adults, minUSD: 45, maxUSD: 110,
		styles: []string{"Slim Chino", "Tailored Trouser", "Pleated Wide Leg"},
		detail: "Sharp creases that stay sharp."},
	"Skirts": {master: "Apparel", sub: "Bottomwear", kind: "Skirts", noun: "Skirt", genders: female, minUSD: 25, maxUSD: 65,
		styles: []string{"A-Line Midi", "Pleated Mini", "Denim Skirt"},
		detail: "Flowing cut with a hidden zip."},
	"Running Shoes": {master: "Footwear", sub: "Shoes", kind: "Running Shoes", noun: "Running Shoes", genders: everyone, minUSD: 60, maxUSD: 180,
		styles: []string{"Velocity Nitro", "Air Zoom Pegasus", "Ultraboost Light", "Floatride Energy", "Deviate Elite"},
		detail: "Cushioned midsole and a breathable mesh upper."},
	"Sports Shoes": {master: "Footwear", sub: "Shoes", kind: "Sports Shoes", noun: "Sports Shoes", genders: everyone, minUSD: 55, maxUSD: 160,
		styles: []string{"Court Classic", "Training Flex", "Indoor Pro", "Nano Trainer"},
		detail: "Grippy rubber sole for quick turns."},
	"Casual Shoes": {master: "Footwear", sub: "Shoes", kind: "Casual Shoes", noun: "Casual Shoes", genders: everyone, minUSD: 45, maxUSD: 140,
		styles: []string{"Canvas Low", "Suede Sneaker", "Leather Loafer", "Desert Boot"},
		detail: "Padded collar and a cushioned footbed."},
	"Formal Shoes": {master: "Footwear", sub: "Shoes", kind: "Formal Shoes", noun: "Formal Shoes", genders: adults, minUSD: 70, maxUSD: 220,
		styles: []string{"Oxford Cap Toe", "Derby", "Monk Strap", "Pointed Pump"},
		detail: "Polished leather with a stitched sole."},
	"Sandals": {master: "Footwear", sub: "Sandal", kind: "Sandals", noun: "Sandals", genders: everyone, minUSD: 25, maxUSD: 70,
		styles: []string{"Trail Sandal", "Strappy Flat", "Sport Slide"},
		detail: "Adjustable straps and a contoured footbed."},
	"Flip Flops": {master: "Footwear", sub: "Flip Flops", kind: "Flip Flops", noun: "Flip Flops", genders: everyone, minUSD: 15, maxUSD: 35,
		styles: []string{"Beach Flip", "Comfort Thong", "Pool Slide"},
		detail: "Light foam that dries fast."},
	"Watches": {master: "Accessories", sub: "Watches", kind: "Watches", noun: "Watch", genders: adultsUnisex, minUSD: 80, maxUSD: 250, metal: true,
		styles: []string{"Chronograph", "Minimalist Three Hand", "Automatic Skeleton", "Smart Hybrid", "Diver 200m"},
		detail: "Mineral crystal and water resistance to 50 metres."},
	"Backpacks": {master: "Accessories", sub: "Bags", kind: "Backpacks", noun: "Backpack", genders: []string{"Unisex", "Boys", "Girls"}, minUSD: 30, maxUSD: 120,
		styles: []string{"Daypack 25L", "Laptop Commuter", "Trail 40L", "School Pack"},
		detail: "Padded laptop sleeve and water resistant base."},
	"Handbags": {master: "Accessories", sub: "Bags", kind: "Handbags", noun: "Handbag", genders: []string{"Women"}, minUSD: 60, maxUSD: 249,
		styles: []string{"Tote", "Crossbody", "Satchel", "Shoulder Bag"},
		detail: "Grained leather with an inner zip pocket."},
	"Duffel Bags": {master: "Accessories", sub: "Bags", kind: "Duffel Bags", noun: "Duffel Bag", genders: []string{"Unisex"}, minUSD: 35, maxUSD: 110,
		styles: []string{"Gym Duffel", "Weekender", "Team Holdall"},
		detail: "Separate shoe compartment and shoulder strap."},
	"Sunglasses": {master: "Accessories", sub: "Eyewear", kind: "Sunglasses", noun: "Sunglasses", genders: adultsUnisex, minUSD: 50, maxUSD: 200,
		styles: []string{"Aviator", "Wayfarer", "Round Metal", "Sport Wrap"},
		detail: "Polarised lenses with full UV protection."},
	"Belts": {master: "Accessories", sub: "Belts", kind: "Belts", noun: "Belt", genders: adults, minUSD: 20, maxUSD: 60,
		styles: []string{"Reversible Leather", "Braided Stretch", "Classic Buckle"},
		detail: "Genuine leather with a metal buckle."},
	"Wallets": {master: "Accessories", sub: "Wallets", kind: "Wallets", noun: "Wallet", genders: adults, minUSD: 20, maxUSD: 80,
		styles: []string{"Bifold", "Card Holder", "Zip Around"},
		detail: "Six card slots and a note compartment."},
	"Caps": {master: "Accessories", sub: "Headwear", kind: "Caps", noun: "Cap", genders: []string{"Unisex", "Boys", "Girls"}, minUSD: 15, maxUSD: 40,
		styles: []string{"Baseball Cap", "Running Cap", "Snapback"},
		detail: "Adjustable strap and a curved peak."},
}

// sampleBrand is a brand of the sample catalog and what it makes.
type sampleBrand struct {
	name     string
	articles []string
	genders  []string // nil: any
}

var (
	sportLine = []string{"Running Shoes", "Tshirts", "Sweatshirts", "Jackets", "Track Pants", "Shorts", "Running Shoes", "Sports Shoes", "Flip Flops", "Caps", "Backpacks", "Duffel Bags"}
	denimLine = []string{"Jeans", "Shirts", "Tshirts", "Jackets", "Shorts", "Belts", "Wallets", "Casual Shoes"}
	// Repeats weigh the random pick towards a brand's signature articles.
	watchLine   = []string{"Watches", "Watches", "Watches", "Watches", "Wallets", "Belts", "Sunglasses"}
	fashionLine = []string{"Shirts", "Tshirts", "Tops", "Trousers", "Skirts", "Casual Shoes", "Formal Shoes", "Handbags", "Sunglasses", "Belts"}
	outdoorLine = []string{"Backpacks", "Duffel Bags", "Jackets", "Caps", "Sandals", "Casual Shoes"}

	sampleBrands = []sampleBrand{
		{name: "Puma", articles: sportLine},
		{name: "Nike", articles: sportLine},
		{name: "Adidas", articles: sportLine},
		{name: "Reebok", articles: sportLine},
		{name: "Levis", articles: denimLine},
		{name: "Wrangler", articles: denimLine},
		{name: "Lee", articles: denimLine},
		{name: "Fossil", articles: append(slices.Clone(watchLine), "Handbags")},
		{name: "Titan", articles: watchLine},
		{name: "Skagen", articles: watchLine},
		{name: "Tommy Hilfiger", articles: fashionLine},
		{name: "United Colors of Benetton", articles: fashionLine},
		{name: "Jack & Jones", articles: fashionLine, genders: []string{"Men", "Boys"}},
		{name: "Wildcraft", articles: outdoorLine},
		{name: "Woodland", articles: outdoorLine},
	}
)

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
