package products_test

import (
	"fmt"
	"testing"

	"streamcart/internal/products"
	"streamcart/internal/servicetest"
)

// BenchmarkLookup measures Lookup of 10 ids, the call the orders service
// makes to price an order: "cached" is the steady state (one MGET),
// "postgres" the same call with caching off, for comparison.
func BenchmarkLookup(b *testing.B) {
	f := newFixture(b, nil, true)
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%05d", 10*i+1)
	}
	b.Run("cached", func(b *testing.B) {
		if _, err := f.svc.Lookup(b.Context(), ids); err != nil { // warm the cache
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			ps, err := f.svc.Lookup(b.Context(), ids)
			if err != nil || len(ps) != len(ids) {
				b.Fatalf("Lookup = %d products, %v", len(ps), err)
			}
		}
	})
	b.Run("postgres", func(b *testing.B) {
		svc, err := products.NewService(f.pool, nil, products.Config{ProductKey: servicetest.ProductKey()}, f.logger(b))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			ps, err := svc.Lookup(b.Context(), ids)
			if err != nil || len(ps) != len(ids) {
				b.Fatalf("Lookup = %d products, %v", len(ps), err)
			}
		}
	})
}
