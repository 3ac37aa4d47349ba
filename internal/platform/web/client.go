package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// ParseBaseURL parses s, the base URL of a service or an API that a
// client calls: an absolute http or https URL with a host. Any other s
// is an error that quotes it.
func ParseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	return u, nil
}

// NewJSONRequest returns a request for method and target whose body is
// body encoded as JSON, with its Content-Type; with a nil body it has
// none.
func NewJSONRequest(ctx context.Context, method, target string, body any) (*http.Request, error) {
	if body == nil {
		return http.NewRequestWithContext(ctx, method, target, nil)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode the body of %s %s: %w", method, target, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
