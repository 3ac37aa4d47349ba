package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/platform/web"
)

// product is what orders needs to know of a catalog product, as the
// catalog's answers and the copy of the prices (prices.go) hold it.
type product struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	PriceCents  int64     `json:"priceCents"`
	Active      bool      `json:"active"`
	Version     int64     `json:"version"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// catalog asks the products service for prices, over HTTP: services do not
// share databases or code. Its calls carry the orders service's own
// identity (auth.RoleService), signed by signer.
type catalog struct {
	products *auth.Client
}

func newCatalog(baseURL string, signer *auth.Signer) *catalog {
	// The default transport keeps 2 idle connections per host: under load
	// every other lookup would dial a new one.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 512, 512
	hc := &http.Client{Timeout: 3 * time.Second, Transport: tracing.Transport(t)}
	return &catalog{products: auth.NewClient(baseURL, "orders", signer, hc)}
}

// lookup returns the active products among ids. Its errors are
// errCatalogUnavailable when the catalog could not be asked or answered
// that it is down, busy or too slow, and errCatalogFailed for any other
// answer that is not a list of products.
func (c *catalog) lookup(ctx context.Context, ids []string) (map[string]product, error) {
	var out struct {
		Products []product `json:"products"`
	}
	err := c.products.PostJSON(ctx, "/products/lookup", map[string][]string{"ids": ids}, &out)
	var answer *auth.AnswerError
	switch {
	case errors.As(err, &answer):
		return nil, lookupError(answer)
	case errors.Is(err, auth.ErrNoAnswer):
		return nil, errCatalogUnavailable(fmt.Errorf("products lookup: %w", err))
	case err != nil:
		return nil, errCatalogFailed(fmt.Errorf("products lookup: %w", err))
	}
	found := make(map[string]product, len(out.Products))
	for _, p := range out.Products {
		if p.Active && p.PriceCents > 0 {
			found[p.ID] = p
		}
	}
	return found, nil
}

// snapshotPage is a page of the whole catalog (GET /snapshot).
type snapshotPage struct {
	Products []product `json:"products"`
	Next     string    `json:"next"`
}

// snapshot returns the page of the whole catalog after product id after
// ("" for the first), with the errors of lookup.
func (c *catalog) snapshot(ctx context.Context, after string) (snapshotPage, error) {
	var page snapshotPage
	err := c.products.GetJSON(ctx, "/snapshot?after="+url.QueryEscape(after), &page)
	var answer *auth.AnswerError
	switch {
	case errors.As(err, &answer):
		return page, lookupError(answer)
	case err != nil:
		return page, fmt.Errorf("products snapshot: %w", err)
	}
	for _, p := range page.Products {
		if !web.ValidID(p.ID) || p.PriceCents < 1 || p.Version < 1 {
			return snapshotPage{}, fmt.Errorf("products snapshot: product %+v is not one of a catalog", p)
		}
	}
	return page, nil
}

// lookupError reads the products service's error answer by the kind its
// status stands for. A catalog that is down, rate limits or times out
// is unavailable for now; any other error (one orders caused, or a fault
// of the catalog) is a failure that retrying soon will not mend. Either
// way the catalog's own code and message go to the log only, as the
// shopper asked orders, not the catalog.
func lookupError(answer *auth.AnswerError) error {
	var eb web.ErrorBody
	detail := string(answer.Body)
	if json.Unmarshal(answer.Body, &eb) == nil && eb.Error.Code != "" {
		detail = eb.Error.Code + ": " + eb.Error.Message
	}
	kind := web.KindOf(answer.StatusCode)
	cause := fmt.Errorf("products lookup: %s (%s): %s", answer.Status, kind, detail)
	switch kind {
	case errs.KindUnavailable, errs.KindRateLimited, errs.KindTimeout:
		return errCatalogUnavailable(cause)
	default:
		return errCatalogFailed(cause)
	}
}
