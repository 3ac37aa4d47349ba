package ordercheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"streamcart/internal/platform/auth"
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
	url    string
	signer *auth.Signer
	caller auth.Identity
	client *http.Client
}

// NewClient returns a client of the orders service at baseURL, an
// absolute http or https URL, whose calls signer signs as service.
func NewClient(baseURL string, signer *auth.Signer, service string) (*Client, error) {
	if u, err := url.Parse(baseURL); baseURL == "" || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("orders URL %q is not an absolute http or https URL", baseURL)
	}
	if signer == nil || service == "" {
		return nil, fmt.Errorf("orders client: a signer and the calling service's name are required")
	}
	// The default transport keeps 2 idle connections per host; in one
	// process (streamcart dev) three consumers call orders at once.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return &Client{
		url:    baseURL + Path,
		signer: signer,
		caller: auth.Identity{Role: auth.RoleService, UserID: service},
		client: &http.Client{Timeout: lookupTimeout, Transport: t},
	}, nil
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
	body, _ := json.Marshal(map[string][]string{"ids": ids}) // strings always encode
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("orders lookup: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth.Header, c.signer.Sign(c.caller))
	if id := web.RequestID(ctx); id != "" {
		req.Header.Set(web.RequestIDHeader, id)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("orders lookup: %w", err)
	}
	defer resp.Body.Close()
	// Up to MaxIDs orders of two ids of web.MaxIDLen and an amount each.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("orders lookup: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("orders lookup: orders answered %s: %.500s", resp.Status, raw)
	}
	var answer struct {
		Orders []Order `json:"orders"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return nil, fmt.Errorf("orders lookup: decode the answer: %w", err)
	}
	return answer.Orders, nil
}
