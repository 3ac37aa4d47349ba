package orderhistory

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"streamcart/internal/events"
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
	PublishSnapshots(ctx context.Context, after string) (events.SnapshotPage, error)
}

// OrdersClient asks the orders service for snapshots over HTTP (POST
// /orders/snapshots), with the order history's own identity
// (auth.RoleService) signed by its Signer: the history never reads the
// orders schema. It is safe for concurrent use.
type OrdersClient struct {
	orders *auth.Client
}

// snapshotTimeout bounds one page: reading up to 500 orders and appending
// their snapshots takes milliseconds; a busy machine may take seconds.
const snapshotTimeout = 30 * time.Second

// NewOrdersClient returns a client of the orders service at baseURL, an
// absolute http or https URL, whose calls signer signs.
func NewOrdersClient(baseURL string, signer *auth.Signer) (*OrdersClient, error) {
	if _, err := web.ParseBaseURL(baseURL); err != nil {
		return nil, fmt.Errorf("orders URL: %w", err)
	}
	if signer == nil {
		return nil, fmt.Errorf("orders client: a signer is required")
	}
	hc := &http.Client{Timeout: snapshotTimeout, Transport: tracing.Transport(nil)}
	return &OrdersClient{orders: auth.NewClient(baseURL, "orderhistory", signer, hc)}, nil
}

// PublishSnapshots implements Snapshotter. Any answer but 200 with a page
// is an error that says what orders answered.
func (c *OrdersClient) PublishSnapshots(ctx context.Context, after string) (events.SnapshotPage, error) {
	var page events.SnapshotPage
	if err := c.orders.PostJSON(ctx, "/orders/snapshots", map[string]string{"after": after}, &page); err != nil {
		return events.SnapshotPage{}, fmt.Errorf("order snapshots after %q from orders: %w", after, err)
	}
	return page, nil
}
