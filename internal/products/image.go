package products

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"strings"
)

// Image returns a 400×400 SVG picture of p: a simple shape for its article
// type, filled with the colour named in its display name, over its brand.
// The picture depends only on p's id, display name, brand and article
// type, so it is the same on every replica; all text is XML-escaped.
func Image(p Product) []byte {
	fill := colourOf(p)
	var b bytes.Buffer
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400" role="img">`)
	b.WriteString("<title>")
	escape(&b, p.DisplayName)
	b.WriteString("</title>")
	fmt.Fprintf(&b, `<rect width="400" height="400" fill="%s"/>`, tint(fill))
	fmt.Fprintf(&b, `<g fill="%s" stroke="#2b2b2b" stroke-width="4" stroke-linejoin="round">`, fill)
	b.WriteString(shapes[shapeOf(p.ArticleType)])
	b.WriteString("</g>")
	b.WriteString(`<text x="200" y="370" text-anchor="middle" font-family="Helvetica, Arial, sans-serif" font-size="28" font-weight="bold" fill="#2b2b2b">`)
	escape(&b, p.Brand)
	b.WriteString("</text></svg>\n")
	return b.Bytes()
}

// imageETag returns a strong ETag for the image svg.
func imageETag(svg []byte) string {
	sum := sha256.Sum256(svg)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s)) // a bytes.Buffer does not fail
}

// colourOf returns the hex colour named in p's display name (the longest
// match, so "Navy Blue" wins over "Blue"), else one picked by p's id.
func colourOf(p Product) string {
	name := " " + strings.ToLower(p.DisplayName) + " "
	best, hex := 0, ""
	for _, c := range colourHex {
		if len(c.name) > best && strings.Contains(name, " "+c.name+" ") {
			best, hex = len(c.name), c.hex
		}
	}
	if hex != "" {
		return hex
	}
	h := fnv.New32a()
	h.Write([]byte(p.ID))
	return colourHex[h.Sum32()%uint32(len(colourHex))].hex
}

// tint returns a pale background that suits fill, which must be #rrggbb.
func tint(fill string) string {
	var r, g, b uint8
	if _, err := fmt.Sscanf(fill, "#%02x%02x%02x", &r, &g, &b); err != nil {
		return "#f4f4f4"
	}
	mix := func(c uint8) uint8 { return uint8((int(c) + 3*0xf4) / 4) }
	return fmt.Sprintf("#%02x%02x%02x", mix(r), mix(g), mix(b))
}

var colourHex = []struct{ name, hex string }{
	{"black", "#222222"}, {"white", "#fafafa"}, {"navy blue", "#1f2f5c"}, {"blue", "#2f6fd0"},
	{"grey", "#8a8d91"}, {"red", "#c8312f"}, {"green", "#2e8b57"}, {"olive", "#708238"},
	{"brown", "#7b4a2a"}, {"maroon", "#7a1f2b"}, {"beige", "#e3d3b0"}, {"pink", "#f08cb0"},
	{"purple", "#6b3fa0"}, {"yellow", "#f2c230"}, {"orange", "#ef7d22"}, {"charcoal", "#3b4046"},
	{"silver", "#c0c4c8"}, {"gold", "#d4af37"}, {"rose gold", "#d8a08f"}, {"steel", "#7d8a96"},
}

// shapeOf names the shape drawn for an article type.
func shapeOf(articleType string) string {
	switch articleType {
	case "Tshirts", "Shirts", "Sweatshirts", "Jackets", "Tops":
		return "top"
	case "Jeans", "Track Pants", "Trousers", "Shorts":
		return "trousers"
	case "Skirts":
		return "skirt"
	case "Running Shoes", "Sports Shoes", "Casual Shoes", "Formal Shoes", "Sandals", "Flip Flops":
		return "shoe"
	case "Watches":
		return "watch"
	case "Backpacks", "Handbags", "Duffel Bags":
		return "bag"
	case "Sunglasses":
		return "glasses"
	case "Caps":
		return "cap"
	case "Belts", "Wallets":
		return "wallet"
	default:
		return "box"
	}
}

// shapes are SVG elements drawn inside a group that sets fill and stroke,
// in the area above the brand text.
var shapes = map[string]string{
	"top":      `<path d="M140 60 L100 80 L50 140 L90 170 L120 140 L120 320 L280 320 L280 140 L310 170 L350 140 L300 80 L260 60 Q200 100 140 60 Z"/>`,
	"trousers": `<path d="M130 50 L270 50 L300 320 L225 320 L200 140 L175 320 L100 320 Z"/>`,
	"skirt":    `<path d="M150 60 L250 60 L320 300 L80 300 Z"/>`,
	"shoe":     `<path d="M60 250 L60 170 Q90 160 120 180 L170 200 Q220 210 260 230 L330 245 Q350 255 345 280 L60 280 Z"/><path d="M60 280 L345 280" fill="none"/>`,
	"watch":    `<rect x="165" y="40" width="70" height="280" rx="14"/><circle cx="200" cy="180" r="80"/><circle cx="200" cy="180" r="60" fill="#fafafa"/><path d="M200 180 L200 135 M200 180 L235 195" fill="none"/>`,
	"bag":      `<path d="M150 130 Q150 70 200 70 Q250 70 250 130" fill="none" stroke-width="12"/><rect x="90" y="120" width="220" height="200" rx="24"/>`,
	"glasses":  `<circle cx="130" cy="190" r="60"/><circle cx="270" cy="190" r="60"/><path d="M190 180 Q200 165 210 180 M70 180 L40 150 M330 180 L360 150" fill="none"/>`,
	"cap":      `<path d="M90 240 Q90 100 200 100 Q310 100 310 240 Z"/><path d="M280 240 L370 255 L300 270 L90 250 Z"/>`,
	"wallet":   `<rect x="70" y="110" width="260" height="170" rx="16"/><rect x="230" y="160" width="100" height="70" rx="10"/>`,
	"box":      `<rect x="90" y="80" width="220" height="220" rx="30"/>`,
}
