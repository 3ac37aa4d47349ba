package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// Limits of what PostJSON reads of an answer.
const (
	maxAnswer      = 4 << 20
	maxErrorAnswer = 4 << 10
)

// ErrNoAnswer is wrapped by the error of a call that got no answer: the
// service could not be reached, or did not answer in time.
var ErrNoAnswer = errors.New("no answer")

// AnswerError is an answer other than 200 OK.
type AnswerError struct {
	StatusCode int
	Status     string // e.g. "503 Service Unavailable"
	Body       []byte // the start of the answer's body
}

func (e *AnswerError) Error() string {
	return fmt.Sprintf("answered %s: %s", e.Status, e.Body)
}

// PostJSON posts body, encoded as JSON, to path under the client's base
// URL and decodes a 200 answer (of at most 4 MiB) into out. Any other
// answer is an *AnswerError; a call that got none wraps ErrNoAnswer; any
// other error means the answer could not be read or decoded.
func (c *Client) PostJSON(ctx context.Context, path string, body, out any) error {
	return c.call(ctx, http.MethodPost, path, body, out)
}

// GetJSON is PostJSON for GET path (with its query), without a body.
func (c *Client) GetJSON(ctx context.Context, path string, out any) error {
	return c.call(ctx, http.MethodGet, path, nil, out)
}

// call sends body, encoded as JSON unless nil, with method to path and
// decodes the answer into out, as PostJSON says.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	req, err := web.NewJSONRequest(ctx, method, c.baseURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set(Header, c.signer.Sign(c.caller))
	if id := web.RequestID(ctx); id != "" {
		req.Header.Set(web.RequestIDHeader, id)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorAnswer))
		return &AnswerError{StatusCode: resp.StatusCode, Status: resp.Status, Body: b}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
		return fmt.Errorf("decode the answer: %w", err)
	}
	return nil
}
