package ordercheck

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/platform/web"
)

// Path is the route of the orders service that Client calls.
const Path = "/orders/lookup"

// lookupTimeout bounds one call: a lookup of up to MaxIDs ids by primary
// key takes milliseconds; a busy machine may take seconds. The consumer's
// handler timeout usually ends it sooner.
const lookupTimeout = 10 * time.Second

// Client is a Lookup that asks the orders service over HTTP (POST
// /orders/lookup), as the service that calls it (auth.RoleService),
// signed by its Signer: no service reads the orders schema. It is safe
// for concurrent use.
type Client struct {
	orders *auth.Client
}

// NewClient returns a client of the orders service at baseURL, an
// absolute http or https URL, whose calls signer signs as service.
func NewClient(baseURL string, signer *auth.Signer, service string) (*Client, error) {
	if _, err := web.ParseBaseURL(baseURL); err != nil {
		return nil, fmt.Errorf("orders URL: %w", err)
	}
	if signer == nil || service == "" {
		return nil, fmt.Errorf("orders client: a signer and the calling service's name are required")
	}
	// The default transport keeps 2 idle connections per host; in one
	// process (streamcart dev) three consumers call orders at once.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	hc := &http.Client{Timeout: lookupTimeout, Transport: tracing.Transport(t)}
	return &Client{orders: auth.NewClient(baseURL, service, signer, hc)}, nil
}

// Lookup implements Lookup: one call for up to MaxIDs distinct ids, and
// one more for each MaxIDs more. Any answer but 200 with a list of
// orders is an error that says what orders answered.
func (c *Client) Lookup(ctx context.Context, ids []string) (map[string]Order, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	out := make(map[string]Order, len(ids))
	for chunk := range slices.Chunk(ids, MaxIDs) {
		orders, err := c.lookup(ctx, chunk)
		if err != nil {
			return nil, err
		}
		for _, o := range orders {
			out[o.OrderID] = o
		}
	}
	return out, nil
}

func (c *Client) lookup(ctx context.Context, ids []string) ([]Order, error) {
	var answer struct {
		Orders []Order `json:"orders"`
	}
	if err := c.orders.PostJSON(ctx, Path, map[string][]string{"ids": ids}, &answer); err != nil {
		return nil, fmt.Errorf("orders lookup: %w", err)
	}
	return answer.Orders, nil
}
