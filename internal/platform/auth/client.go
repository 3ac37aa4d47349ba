package auth

import (
	"context"
	"net/http"

	"streamcart/internal/platform/web"
)

// Client calls another service's API on a service's own behalf: each
// request carries the caller's identity (RoleService), freshly signed, and
// the request id of its context, so that the callee's log lines join the
// caller's. It is safe for concurrent use.
type Client struct {
	baseURL string
	signer  *Signer
	caller  Identity
	http    *http.Client
}

// NewClient returns a client of the service at baseURL, which must be an
// absolute http or https URL (web.ParseBaseURL), for the service named
// caller, whose identities signer signs. Its requests go through hc.
func NewClient(baseURL, caller string, signer *Signer, hc *http.Client) *Client {
	return &Client{
		baseURL: baseURL,
		signer:  signer,
		caller:  Identity{Role: RoleService, UserID: caller},
		http:    hc,
	}
}

// PostJSON posts body, encoded as JSON, to path under the client's base
// URL and returns the answer, whatever its status; the caller closes its
// Body. An error means that no answer came.
func (c *Client) PostJSON(ctx context.Context, path string, body any) (*http.Response, error) {
	req, err := web.NewJSONRequest(ctx, http.MethodPost, c.baseURL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(Header, c.signer.Sign(c.caller))
	if id := web.RequestID(ctx); id != "" {
		req.Header.Set(web.RequestIDHeader, id)
	}
	return c.http.Do(req)
}
