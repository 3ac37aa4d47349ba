package orders

// Metrics receives what the orders service counts (package
// platform/metrics exports it). Implementations must be safe for
// concurrent use.
type Metrics interface {
	// Final counts n orders that reached the final status named status
	// (events.Status.String), once each: when the service applied their
	// payment outcome.
	Final(status string, n int)
	// Republished counts n orders whose OrderPlaced the reconciler wrote
	// again.
	Republished(n int)
	// CatalogLookups counts n orders that asked the products service
	// about products the copy of the prices could not sell as the
	// shopper expected.
	CatalogLookups(n int)
}

type nopMetrics struct{}

func (nopMetrics) Final(string, int)  {}
func (nopMetrics) Republished(int)    {}
func (nopMetrics) CatalogLookups(int) {}
