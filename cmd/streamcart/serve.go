package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"streamcart/internal/app"
	"streamcart/internal/gateway"
	"streamcart/internal/platform/config"
	"streamcart/internal/platform/logging"
)

// serveUsage is the usage of "streamcart serve"; %s is the services.
const serveUsage = `usage: streamcart serve <service> [flags]

Run one service, as one process of a deployment.
Services: %s
OpenTelemetry traces are exported with OTLP over HTTP when
OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md#tracing).`

// runServe runs one service, as one process of a deployment. An unknown
// service is refused before anything starts.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	metricsAddr := fs.String("metrics-addr", "", "also serve the metrics (GET /metrics) on this address, e.g. 127.0.0.1:9464; the gateway's only here, its --addr being public (empty: the gateway serves none, the others on --addr only)")
	withMetrics := fs.Bool("metrics", true, "count and serve Prometheus metrics (false: none at all)")
	redisURL := fs.String("redis-url", os.Getenv("REDIS_URL"), "Redis URL, with the credentials of the service's own Redis user, e.g. redis://payments:PASSWORD@host:6379/0 (env REDIS_URL; see streamcart redis-acl)")
	opsRedisURL := fs.String("ops-redis-url", "", "Redis URL of the operations page, with the ops user's credentials (gateway; default --redis-url)")
	databaseURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (env DATABASE_URL)")
	secret := fs.String("identity-secret", "", identitySecretUsage)
	productsURL := fs.String("products-url", "", "base URL of the products service (for orders and the gateway)")
	ordersURL := fs.String("orders-url", "", "base URL of the orders service (for the gateway; for payments, identity and the order history, which ask it whether the orders they are told of exist; and for the order history, which rebuilds itself from its snapshots)")
	historyURL := fs.String("history-url", "", "base URL of the order history service (for the gateway)")
	paymentsURL := fs.String("payments-url", "", "base URL of the payments service (for the gateway: the operations page shows order journeys only with it)")
	origins := fs.String("allowed-origins", "", "comma-separated origins allowed to call the API from a browser (CORS; gateway)")
	rateLimitIP := fs.Int("rate-limit-ip", 0, "requests per second per client address (gateway; 0: default 2000, negative: none)")
	newSessions := fs.Int("new-sessions-per-minute", 0, "sessions one client address may start per minute (gateway; 0: default 60, negative: no limit)")
	streamsPerSession := fs.Int("event-streams-per-session", 0, "order event streams open at once per session on this gateway (0: default 4, negative: no limit)")
	streamsPerIP := fs.Int("event-streams-per-ip", 0, "order event streams open at once per client address (gateway; 0: default 64, negative: no limit)")
	streamMaxAgeSSE := fs.Duration("event-stream-max-age", 0, "how long an order event stream lasts before the browser reconnects (gateway; 0: default 1h)")
	loginRetention := fs.Duration("login-retention", 0, "how long a login identity is kept after it was last seen (identity; 0: default 2160h, 90 days)")
	trustProxy := fs.Bool("trust-proxy", false, "take the client address from X-Forwarded-For, and the public host and scheme from X-Forwarded-Host and -Proto (gateway behind a proxy)")
	publicURL := fs.String("public-url", "", "URL at which clients reach the gateway, e.g. https://shop.example.com: the base of absolute URLs in tutorial responses (gateway; empty: from each request's host)")
	secureCookies := fs.Bool("secure-cookies", false, "mark the session cookie Secure (gateway behind HTTPS)")
	operatorToken := fs.String("operator-token", "", "token that opens the operations page /ops (gateway; empty keeps it closed)")
	partitions := streamPartitionsFlag(fs)
	streamMaxAge := fs.Duration("stream-max-age", 0, "how much of each stream to keep, by entry age (e.g. 168h; trimmed approximately as events are appended); 0 keeps everything")
	linger := fs.Duration("linger", defaultLinger, lingerUsage)
	seed := fs.Bool("seed", true, "load the sample catalog into an empty catalog (products)")
	logFormat := fs.String("log-format", "json", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")

	header := fmt.Sprintf(serveUsage, strings.Join(app.Services, ", "))
	if err := needWord(args, fs, header, "serve: no service given", stdout, stderr); err != nil {
		return err
	}
	if !slices.Contains(app.Services, args[0]) {
		return usageErrorf("serve: unknown service %q; want one of: %s", args[0], strings.Join(app.Services, ", "))
	}
	name, args := args[0], args[1:]
	if err := parseFlags(fs, "STREAMCART", header, args, stdout, stderr); err != nil {
		return err
	}
	// app adds the service attribute to the loggers of what it starts.
	root, err := logging.New(stderr, *logFormat, *logLevel, "")
	if err != nil {
		return usageError{err}
	}
	log := root.With("service", name)
	routeGoRedisLog(log)
	log.Info("starting", "version", version(), config.Effective(fs, "identity-secret", "operator-token"))
	if *redisURL == "" || *databaseURL == "" {
		return usageErrorf("--redis-url and --database-url (env REDIS_URL, DATABASE_URL) are required")
	}
	key, err := identitySecret(*secret)
	if err != nil {
		return err
	}
	traces, flush, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	defer flush()
	sys, err := app.Start(ctx, app.Config{
		RedisURL:      *redisURL,
		RedisURLs:     map[string]string{app.Ops: *opsRedisURL},
		Names:         app.RedisNames{StreamPartitions: *partitions},
		DatabaseURL:   *databaseURL,
		Addrs:         map[string]string{name: *addr},
		URLs:          map[string]string{app.Products: *productsURL, app.Orders: *ordersURL, app.History: *historyURL, app.Payments: *paymentsURL},
		Secret:        key,
		OperatorToken: *operatorToken,
		MetricsAddr:   *metricsAddr,
		NoMetrics:     !*withMetrics,
		Gateway: gateway.Config{
			AllowedOrigins: splitList(*origins), RateLimitIP: *rateLimitIP,
			TrustProxy: *trustProxy, SecureCookies: *secureCookies, PublicURL: *publicURL,
			NewSessionsPerMinute: *newSessions, EventStreamsPerSession: *streamsPerSession,
			EventStreamsPerIP: *streamsPerIP, EventStreamMaxAge: *streamMaxAgeSSE,
		},
		LoginRetention: *loginRetention,
		StreamMaxAge:   *streamMaxAge,
		Linger:         *linger,
		Seed:           *seed,
		Tracing:        traces,
		Log:            root,
	}, name)
	if err != nil {
		return err
	}
	log.Info("serving", "url", sys.URLs[name])
	if u := sys.MetricsURLs[name]; u != "" {
		log.Info("serving metrics", "url", u)
	} else if *withMetrics {
		log.Warn("serving no metrics: the gateway's address is public; give it --metrics-addr")
	}
	return sys.Wait()
}

// streamPartitionsFlag defines the --stream-partitions flag on fs.
func streamPartitionsFlag(fs *flag.FlagSet) *int {
	return fs.Int("stream-partitions", 1, "how many partitions each of ORDERS_STREAM, PAYMENTS_STREAM and TRANSACTION_STREAM has (1 to 64; 1: one stream under its own name); the same in every process and in the Redis users (streamcart redis-acl, secrets)")
}

// identitySecretUsage is the usage of the --identity-secret flag.
const identitySecretUsage = "hex secret (>= 32 bytes) that signs identities between gateway and services, and the orders' OrderPlaced events; the same in every process"

// identitySecret decodes the --identity-secret flag's value.
func identitySecret(hexSecret string) ([]byte, error) {
	key, err := hex.DecodeString(hexSecret)
	if err != nil || len(key) < 32 {
		return nil, usageErrorf("--identity-secret (env STREAMCART_IDENTITY_SECRET) must be at least 32 bytes, hex encoded; generate one with: openssl rand -hex 32")
	}
	return key, nil
}

// runMigrate applies every service's migrations and exits.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart migrate", flag.ContinueOnError)
	databaseURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (env DATABASE_URL)")
	const header = "usage: streamcart migrate [flags]\n\nApply every service's database migrations (services also apply theirs at start)."
	if err := parseFlags(fs, "STREAMCART", header, args, stdout, stderr); err != nil {
		return err
	}
	if *databaseURL == "" {
		return usageErrorf("--database-url (env DATABASE_URL) is required")
	}
	return app.Migrate(ctx, *databaseURL)
}

// historyUsage is the usage of "streamcart history".
const historyUsage = `usage: streamcart history rebuild [flags]

Recreate the order history read model completely: from a snapshot of every
order, which the orders service publishes on request, and from the streams.
Readers get 503 until it is done. The order history service does the same
by itself when Redis lost its data.`

// runHistory runs "history rebuild": recreate the order history read model
// from the orders service's snapshots and the streams.
func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart history rebuild", flag.ContinueOnError)
	redisURL := fs.String("redis-url", os.Getenv("REDIS_URL"), "Redis URL (env REDIS_URL): the orderhistory user's, or an admin's")
	ordersURL := fs.String("orders-url", "", "base URL of the orders service, which publishes the snapshots of its orders and says which orders exist")
	secret := fs.String("identity-secret", "", identitySecretUsage+" (signs the call to orders; the rebuild skips an order event not signed with it)")
	partitions := streamPartitionsFlag(fs)
	if err := needWord(args, fs, historyUsage, "history: no subcommand given", stdout, stderr); err != nil {
		return err
	}
	if args[0] != "rebuild" {
		writeFlagsUsage(stderr, fs, "STREAMCART", historyUsage)
		return usageErrorf("history: unknown subcommand %q", args[0])
	}
	if err := parseFlags(fs, "STREAMCART", historyUsage, args[1:], stdout, stderr); err != nil {
		return err
	}
	if *redisURL == "" || *ordersURL == "" {
		return usageErrorf("--redis-url (env REDIS_URL) and --orders-url are required")
	}
	key, err := identitySecret(*secret)
	if err != nil {
		return err
	}
	log, err := logging.New(stderr, "text", "info", "orderhistory")
	if err != nil {
		return err
	}
	routeGoRedisLog(log)
	if err := app.RebuildHistory(ctx, *redisURL, *ordersURL, key, *partitions, log); err != nil {
		return err
	}
	log.Info("order history rebuilt")
	return nil
}
