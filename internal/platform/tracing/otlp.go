package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The exporter is our own rather than the SDK's otlptracehttp, whose
// generated OTLP types link gRPC into the binary (decision 23): it writes
// the protobuf by hand (otlpwire.go), and does only OTLP/HTTP with
// protobuf, the specification's default.

const (
	// defaultOTLPTimeout bounds an export, its retries included, when
	// OTEL_EXPORTER_OTLP_TIMEOUT does not say otherwise.
	defaultOTLPTimeout = 10 * time.Second
	// firstRetry is the wait before the first retry, doubled for each
	// next one up to lastRetry, each ±50% at random; a longer Retry-After
	// wins.
	firstRetry = time.Second
	lastRetry  = 5 * time.Second
	// maxAnswer is as much of a collector's answer as is read.
	maxAnswer = 64 << 10
)

// otlpConfig is where and how the exporter sends spans, as the
// OTEL_EXPORTER_OTLP_* variables say.
type otlpConfig struct {
	url     *url.URL
	headers http.Header
	timeout time.Duration
	gzip    bool
	tls     *tls.Config // nil: the system's roots (on scratch, the compiled-in ones)
}

// otlpEnv returns the value of OTEL_EXPORTER_OTLP_TRACES_<name> if set,
// else that of OTEL_EXPORTER_OTLP_<name>, and which variable it read:
// the traces' own variable wins.
func otlpEnv(getenv func(string) string, name string) (key, value string) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + name, "OTEL_EXPORTER_OTLP_" + name} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return k, v
		}
	}
	return "", ""
}

// otlpConfigFromEnv reads the exporter's configuration and refuses, with
// the variable's name, what it cannot honour: traces would otherwise be
// lost in silence. Values (which may hold secrets) are not repeated in
// the errors, except for the protocol and compression.
func otlpConfigFromEnv(getenv func(string) string) (otlpConfig, error) {
	cfg := otlpConfig{headers: http.Header{}, timeout: defaultOTLPTimeout}
	var err error
	if cfg.url, err = tracesURL(getenv); err != nil {
		return cfg, err
	}
	if k, v := otlpEnv(getenv, "PROTOCOL"); v != "" && v != "http/protobuf" {
		return cfg, fmt.Errorf("tracing: %s %q is not supported; streamcart exports with http/protobuf", k, v)
	}
	if k, v := otlpEnv(getenv, "HEADERS"); v != "" {
		if cfg.headers, err = parseHeaders(v); err != nil {
			return cfg, fmt.Errorf("tracing: %s: %w", k, err)
		}
	}
	if k, v := otlpEnv(getenv, "TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return cfg, fmt.Errorf("tracing: %s %q is not a positive number of milliseconds", k, v)
		}
		cfg.timeout = time.Duration(ms) * time.Millisecond
	}
	switch k, v := otlpEnv(getenv, "COMPRESSION"); v {
	case "", "none":
	case "gzip":
		cfg.gzip = true
	default:
		return cfg, fmt.Errorf("tracing: %s %q is not supported; use gzip or none", k, v)
	}
	cfg.tls, err = tlsFromEnv(getenv)
	return cfg, err
}

// tracesURL is where spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it
// is (with the path / if it has none), else OTEL_EXPORTER_OTLP_ENDPOINT
// with /v1/traces added to its path.
func tracesURL(getenv func(string) string) (*url.URL, error) {
	key, asIs := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", true
	raw := strings.TrimSpace(getenv(key))
	if raw == "" {
		key, asIs = "OTEL_EXPORTER_OTLP_ENDPOINT", false
		raw = strings.TrimSpace(getenv(key))
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracing: %s is not an http:// or https:// URL", key)
	}
	switch {
	case !asIs:
		u = u.JoinPath("v1/traces")
	case u.Path == "":
		u.Path = "/"
	}
	return u, nil
}

// parseHeaders parses key=value pairs separated by commas, each value
// percent-decoded (the W3C baggage format that the specification names).
func parseHeaders(s string) (http.Header, error) {
	h := http.Header{}
	for i, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsFunc(k, notTokenChar) {
			return nil, fmt.Errorf("entry %d is not name=value with a valid header name", i+1)
		}
		v, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil || strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("the value of %s is not a percent-encoded header value", k)
		}
		h.Set(k, v)
	}
	return h, nil
}

// notTokenChar reports whether r may not be in a header name (RFC 9110's
// token).
func notTokenChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// tlsFromEnv returns the TLS configuration that the certificate variables
// ask for: the collector's CA (…_CERTIFICATE, replacing the system's
// roots) and a client certificate (…_CLIENT_CERTIFICATE with
// …_CLIENT_KEY), PEM files; nil when none is set.
func tlsFromEnv(getenv func(string) string) (*tls.Config, error) {
	caKey, caFile := otlpEnv(getenv, "CERTIFICATE")
	certKey, certFile := otlpEnv(getenv, "CLIENT_CERTIFICATE")
	keyKey, keyFile := otlpEnv(getenv, "CLIENT_KEY")
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tracing: %s: %w", caKey, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tracing: %s: no PEM certificate in %s", caKey, caFile)
		}
	}
	switch {
	case certFile == "" && keyFile == "":
	case certFile == "" || keyFile == "":
		return nil, errors.New("tracing: set both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY (or their TRACES_ forms), or neither")
	default:
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tracing: %s and %s: %w", certKey, keyKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// otlpExporter is an sdktrace.SpanExporter that sends each batch as one
// OTLP/HTTP protobuf POST, retrying what the specification says may be
// retried (429, 502, 503, 504, and failures to connect) with backoff,
// within the timeout. It is safe for concurrent use: the providers of
// every service share it.
type otlpExporter struct {
	cfg       otlpConfig
	userAgent string
	client    *http.Client
	retry     time.Duration // the first wait, firstRetry but in tests
	lastSize  atomic.Int64  // of the last request, before compression

	stopOnce sync.Once
	stopped  chan struct{} // closed by Shutdown
}

func newOTLPExporter(cfg otlpConfig, version string) *otlpExporter {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.tls != nil {
		tr.TLSClientConfig = cfg.tls
	}
	tr.MaxIdleConnsPerHost = 8 // the batches of every service go to one collector, some at once
	return &otlpExporter{
		cfg:       cfg,
		userAgent: "streamcart/" + version + " (OTLP trace exporter)",
		client:    &http.Client{Transport: tr},
		retry:     firstRetry,
		stopped:   make(chan struct{}),
	}
}

var errExporterStopped = errors.New("tracing: the exporter is shut down")

// gzipWriters keeps gzip's writers, which are large, for the next
// exports.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

// ExportSpans sends spans to the collector in one request and returns
// once the collector has taken them, or the timeout (or ctx) has ended
// the attempts. A partial success is an error (the span processor logs
// it); the spans it rejected are not sent again.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	select {
	case <-e.stopped:
		return errExporterStopped
	default:
	}
	// A new buffer for each export, the size of the last: the transport
	// may still read a request's body after the response has come, so
	// a body is never reused.
	body := appendRequest(make([]byte, 0, e.lastSize.Load()), spans)
	e.lastSize.Store(int64(len(body)))
	if e.cfg.gzip {
		var zipped bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&zipped)
		_, _ = zw.Write(body) // a bytes.Buffer does not fail
		_ = zw.Close()
		gzipWriters.Put(zw)
		body = zipped.Bytes()
	}
	return e.send(ctx, body)
}

// send posts body until the collector takes it, retrying within the
// timeout; a Retry-After longer than the time left ends the attempts at
// once.
func (e *otlpExporter) send(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
	defer cancel()
	go func() { // Shutdown ends an export in flight
		select {
		case <-e.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := e.retry
	for attempt := 1; ; attempt++ {
		err := e.post(ctx, body)
		var retry *retryableError
		if !errors.As(err, &retry) {
			return err
		}
		next := max(retry.after, wait/2+rand.N(wait)) // wait ±50%
		if deadline, _ := ctx.Deadline(); time.Until(deadline) < next {
			return fmt.Errorf("%w (gave up after %d attempts within the timeout, %v)", err, attempt, e.cfg.timeout)
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after %d attempts: %w)", err, attempt, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, lastRetry)
	}
}

// retryableError is a failure that may succeed when tried again, after
// at least after.
type retryableError struct {
	err   error
	after time.Duration
}

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// post sends body once.
func (e *otlpExporter) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.url.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("tracing: export: %w", err)
	}
	for k, v := range e.cfg.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", e.userAgent)
	if e.cfg.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() == nil && transient(err) {
			return &retryableError{err: fmt.Errorf("tracing: export: %w", err)}
		}
		return fmt.Errorf("tracing: export: %w", err) // the URL is in it, without a password
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	isProto := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-protobuf")
	switch {
	case resp.StatusCode/100 == 2:
		if err != nil || !isProto {
			return nil // the spans are taken; the answer is only for partial successes
		}
		return partialSuccess(answer)
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusBadGateway,
		resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		return &retryableError{err: e.statusError(resp, isProto, answer), after: retryAfter(resp.Header.Get("Retry-After"))}
	default:
		return e.statusError(resp, isProto, answer)
	}
}

// transient reports whether err, from http.Client.Do, is a failure of
// the network (the collector refused the connection, or closed it)
// rather than a refusal that the next attempt meets again (a certificate
// that is not trusted, TLS spoken to plain HTTP).
func transient(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // itself a net.Error, whatever it holds
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// statusError describes a refusal, with the message of the collector's
// google.rpc.Status (its field 2) when it sent one.
func (e *otlpExporter) statusError(resp *http.Response, isProto bool, answer []byte) error {
	msg := ""
	if isProto {
		msg, _ = stringField(answer, 2)
	}
	if msg != "" {
		msg = ": " + msg
	}
	return fmt.Errorf("tracing: export to %s: %s%s", e.cfg.url.Redacted(), resp.Status, msg)
}

// retryAfter is the wait that a Retry-After header asks for, in seconds
// or until a date; 0 when it asks for none.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// partialSuccess returns the partial success in answer, an
// ExportTraceServiceResponse, as an error, or nil when there is none.
func partialSuccess(answer []byte) error {
	ps, ok := messageField(answer, responsePartialSuccess)
	if !ok {
		return nil
	}
	rejected, _ := varintField(ps, partialRejectedSpans)
	msg, _ := stringField(ps, partialErrorMessage)
	if rejected == 0 && msg == "" {
		return nil
	}
	return fmt.Errorf("tracing: the collector rejected %d spans: %s", int64(rejected), msg)
}

// field returns the value of the last field num of type typ in the
// protobuf message b, as it is on the wire (a length-delimited one with
// its length): the last one wins, as in protobuf.
func field(b []byte, num protowire.Number, typ protowire.Type) ([]byte, bool) {
	var value []byte
	found := false
	for len(b) > 0 {
		n, t, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		m := protowire.ConsumeFieldValue(n, t, b[l:])
		if m < 0 {
			return nil, false
		}
		if n == num && t == typ {
			value, found = b[l:l+m], true
		}
		b = b[l+m:]
	}
	return value, found
}

func messageField(b []byte, num protowire.Number) ([]byte, bool) {
	v, ok := field(b, num, protowire.BytesType)
	if !ok {
		return nil, false
	}
	v, n := protowire.ConsumeBytes(v)
	return v, n >= 0
}

func stringField(b []byte, num protowire.Number) (string, bool) {
	v, ok := messageField(b, num)
	return string(v), ok
}

func varintField(b []byte, num protowire.Number) (uint64, bool) {
	v, ok := field(b, num, protowire.VarintType)
	if !ok {
		return 0, false
	}
	x, n := protowire.ConsumeVarint(v)
	return x, n >= 0
}

// Shutdown ends the exports in flight and refuses the next ones.
func (e *otlpExporter) Shutdown(ctx context.Context) error {
	e.stopOnce.Do(func() { close(e.stopped) })
	e.client.CloseIdleConnections()
	return ctx.Err()
}
