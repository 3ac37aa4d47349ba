package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const probeUsage = `usage: streamcart probe URL [flags]

GET URL and succeed when it answers 2xx within --timeout: the health check
of a container whose image has nothing but streamcart (no shell, no curl),
e.g. in Compose:

  healthcheck:
    test: ["CMD", "/streamcart", "probe", "http://127.0.0.1:8083/readyz"]

A service answers /healthz while its process lives and /readyz while its
PostgreSQL and Redis answer.`

// runProbe GETs a URL and fails unless it answers 2xx in time.
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := needWord(args, fs, probeUsage, "probe: no URL given", stdout, stderr); err != nil {
		return err
	}
	target, args := args[0], args[1:]
	if err := parseFlags(fs, "STREAMCART_PROBE", probeUsage, args, stdout, stderr); err != nil {
		return err
	}
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErrorf("probe: %q is not an http:// or https:// URL", target)
	}
	if *timeout <= 0 {
		return usageErrorf("probe: --timeout %v must be positive", *timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("probe %s: %s %s", target, resp.Status, body)
	}
	fmt.Fprintf(stdout, "%s %s\n", resp.Status, body)
	return nil
}
