package products_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"streamcart/internal/products"
)

func TestImageEscapesText(t *testing.T) {
	t.Parallel()
	p := products.Product{
		ID:          "p-1",
		DisplayName: `<script>alert("x")</script> & Co`,
		Brand:       `Jack & "Jones" <b>`,
		ArticleType: "Tshirts",
	}
	svg := string(products.Image(p))
	for _, bad := range []string{"<script>", "<b>", `"Jones"`, "& Co", "Jack & "} {
		if strings.Contains(svg, bad) {
			t.Errorf("Image contains unescaped %q:\n%s", bad, svg)
		}
	}
	text := svgText(t, []byte(svg))
	for _, want := range []string{p.DisplayName, p.Brand} {
		if !strings.Contains(text, want) {
			t.Errorf("Image text %q does not contain %q", text, want)
		}
	}
}

func TestImageIsWellFormedForEveryProduct(t *testing.T) {
	t.Parallel()
	for _, p := range products.SampleCatalog() {
		svg := products.Image(p)
		if text := svgText(t, svg); !strings.Contains(text, p.Brand) {
			t.Errorf("Image(%s) text %q lacks the brand %q", p.ID, text, p.Brand)
		}
		if !bytes.Equal(svg, products.Image(p)) {
			t.Errorf("Image(%s) differs between calls", p.ID)
		}
	}
}

func TestImageColourAndShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, article string
		want          []string // substrings of the SVG
	}{
		{"Puma Men Navy Blue Running Shoes", "Running Shoes", []string{`fill="#1f2f5c"`, "<path"}},
		{"Puma Men Blue Running Shoes", "Running Shoes", []string{`fill="#2f6fd0"`}},
		{"Fossil Women Rose Gold Watch", "Watches", []string{`fill="#d8a08f"`, "<circle"}},
		{"Levis Men Black Jeans", "Jeans", []string{`fill="#222222"`}},
		{"Wildcraft Unisex Olive Backpack", "Backpacks", []string{`fill="#708238"`, "<rect"}},
	}
	for _, tt := range tests {
		svg := string(products.Image(products.Product{ID: "p-1", DisplayName: tt.name, Brand: "B", ArticleType: tt.article}))
		for _, want := range tt.want {
			if !strings.Contains(svg, want) {
				t.Errorf("Image(%q, %q) lacks %q", tt.name, tt.article, want)
			}
		}
	}
	a := products.Image(products.Product{ID: "p-1", DisplayName: "X", ArticleType: "Watches"})
	b := products.Image(products.Product{ID: "p-1", DisplayName: "X", ArticleType: "Jeans"})
	if bytes.Equal(a, b) {
		t.Errorf("a watch and jeans have the same image")
	}
}

// svgText parses svg as XML, checks its root is <svg> and returns its
// character data.
func svgText(t *testing.T, svg []byte) string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("image is not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Errorf("root element = %q, want svg", root)
	}
	return text.String()
}
