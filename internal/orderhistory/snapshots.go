package orderhistory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/platform/web"
)

// Snapshotter has the system of record publish snapshots of its orders,
// for Rebuild. OrdersClient asks the orders service; tests use a fake.
type Snapshotter interface {
	// PublishSnapshots has an OrderSnapshot of each of a page of orders,
	// those whose ids come after after ("" for the first page), appended
	// to the snapshots stream, and returns where they are once they all
	// are.
	PublishSnapshots(ctx context.Context, after string) (SnapshotPage, error)
}

// SnapshotPage is a page of snapshots on the snapshots stream, as the
// orders service answers POST /orders/snapshots.
type SnapshotPage struct {
	// Orders is how many snapshots the page holds, one per order.
	Orders int `json:"orders"`
	// Stream is the stream they are on.
	Stream string `json:"stream"`
	// FirstEntryID and LastEntryID bound the page's entries; empty when
	// Orders is 0.
	FirstEntryID string `json:"firstEntryId"`
	LastEntryID  string `json:"lastEntryId"`
	// Next is the after of the next page; empty after the last.
	Next string `json:"next"`
}

// OrdersClient asks the orders service for snapshots over HTTP (POST
// /orders/snapshots), with the order history's own identity
// (auth.RoleService) signed by its Signer: the history never reads the
// orders schema. It is safe for concurrent use.
type OrdersClient struct {
	baseURL string
	signer  *auth.Signer
	client  *http.Client
}

// snapshotTimeout bounds one page: reading up to 500 orders and appending
// their snapshots takes milliseconds; a busy machine may take seconds.
const snapshotTimeout = 30 * time.Second

// callerID is the identity the history calls orders with.
var callerID = auth.Identity{Role: auth.RoleService, UserID: "orderhistory"}

// NewOrdersClient returns a client of the orders service at baseURL, an
// absolute http or https URL, whose calls signer signs.
func NewOrdersClient(baseURL string, signer *auth.Signer) (*OrdersClient, error) {
	if u, err := url.Parse(baseURL); baseURL == "" || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("orders URL %q is not an absolute http or https URL", baseURL)
	}
	if signer == nil {
		return nil, fmt.Errorf("orders client: a signer is required")
	}
	return &OrdersClient{baseURL: baseURL, signer: signer, client: &http.Client{Timeout: snapshotTimeout, Transport: tracing.Transport(nil)}}, nil
}

// PublishSnapshots implements Snapshotter. Any answer but 200 with a page
// is an error that says what orders answered.
func (c *OrdersClient) PublishSnapshots(ctx context.Context, after string) (SnapshotPage, error) {
	body, _ := json.Marshal(map[string]string{"after": after}) // strings always encode
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/orders/snapshots", bytes.NewReader(body))
	if err != nil {
		return SnapshotPage{}, fmt.Errorf("order snapshots: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth.Header, c.signer.Sign(callerID))
	if id := web.RequestID(ctx); id != "" {
		req.Header.Set(web.RequestIDHeader, id)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return SnapshotPage{}, fmt.Errorf("order snapshots: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return SnapshotPage{}, fmt.Errorf("order snapshots: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return SnapshotPage{}, fmt.Errorf("order snapshots after %q: orders answered %s: %s", after, resp.Status, raw)
	}
	var page SnapshotPage
	if err := json.Unmarshal(raw, &page); err != nil {
		return SnapshotPage{}, fmt.Errorf("order snapshots: decode the answer: %w", err)
	}
	return page, nil
}
