package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Probe asks a health route of a running service, GET target (its /healthz
// or /readyz), with client: nil when it answers 200, else an error that
// says what it answered or why it could not be asked. It reads the answer
// (up to 64 KiB) before closing it, so that the connection is kept for
// the next probe.
func Probe(ctx context.Context, client *http.Client, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	return nil
}
