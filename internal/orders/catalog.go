package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// product is what orders needs to know of a catalog product.
type product struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	PriceCents  int64  `json:"priceCents"`
	Active      bool   `json:"active"`
}

// catalog asks the products service for prices, over HTTP: services do not
// share databases or code.
type catalog struct {
	baseURL string
	client  *http.Client
}

func newCatalog(baseURL string) *catalog {
	// The default transport keeps 2 idle connections per host: under load
	// every other lookup would dial a new one.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 512, 512
	return &catalog{baseURL: baseURL, client: &http.Client{Timeout: 3 * time.Second, Transport: t}}
}

// lookup returns the active products among ids. Errors mean the catalog
// could not be asked and are 503s.
func (c *catalog) lookup(ctx context.Context, ids []string) (map[string]product, error) {
	body, _ := json.Marshal(map[string][]string{"ids": ids})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/products/lookup", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if id := web.RequestID(ctx); id != "" {
		req.Header.Set(web.RequestIDHeader, id)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, errs.Unavailable(err, "the catalog is unavailable; try again shortly")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, errs.Unavailable(fmt.Errorf("products lookup: %s: %s", resp.Status, msg), "the catalog is unavailable; try again shortly")
	}
	var out struct {
		Products []product `json:"products"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&out); err != nil {
		return nil, errs.Unavailable(fmt.Errorf("products lookup: %w", err), "the catalog answered with garbage")
	}
	found := make(map[string]product, len(out.Products))
	for _, p := range out.Products {
		if p.Active && p.PriceCents > 0 {
			found[p.ID] = p
		}
	}
	return found, nil
}
