package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"streamcart/internal/app"
	"streamcart/internal/gateway"
	"streamcart/internal/platform/config"
	"streamcart/internal/platform/logging"
)

// runServe runs one service, as one process of a deployment.
func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stderr, "usage: streamcart serve <service> [flags]\nservices: %v\n", app.Services)
		return flag.ErrHelp
	}
	name, args := args[0], args[1:]
	fs := flag.NewFlagSet("streamcart serve "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	redisURL := fs.String("redis-url", os.Getenv("REDIS_URL"), "Redis URL (env REDIS_URL)")
	databaseURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (env DATABASE_URL)")
	secret := fs.String("identity-secret", "", "hex secret (>= 32 bytes) that signs identities between gateway and services; the same in every process")
	productsURL := fs.String("products-url", "", "base URL of the products service (for orders and the gateway)")
	ordersURL := fs.String("orders-url", "", "base URL of the orders service (for the gateway)")
	historyURL := fs.String("history-url", "", "base URL of the order history service (for the gateway)")
	origins := fs.String("allowed-origins", "", "comma-separated origins allowed to call the API from a browser (CORS; gateway)")
	rateLimitIP := fs.Int("rate-limit-ip", 0, "requests per second per client address (gateway; 0: default 2000, negative: none)")
	trustProxy := fs.Bool("trust-proxy", false, "take the client address from X-Forwarded-For (gateway behind a proxy)")
	secureCookies := fs.Bool("secure-cookies", false, "mark the session cookie Secure (gateway behind HTTPS)")
	operatorToken := fs.String("operator-token", "", "token that opens the operations page /ops (gateway; empty keeps it closed)")
	streamMaxAge := fs.Duration("stream-max-age", 0, "how much of each stream to keep, by entry age (e.g. 168h; trimmed approximately as events are appended); 0 keeps everything")
	seed := fs.Bool("seed", true, "load the sample catalog into an empty catalog (products)")
	logFormat := fs.String("log-format", "json", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := config.Parse(fs, "STREAMCART", args); err != nil {
		return err
	}
	log, err := logging.New(stderr, *logFormat, *logLevel, name)
	if err != nil {
		return err
	}
	key, err := hex.DecodeString(*secret)
	if err != nil || len(key) < 32 {
		return errors.New("--identity-secret (env STREAMCART_IDENTITY_SECRET) must be at least 32 bytes, hex encoded; generate one with: openssl rand -hex 32")
	}
	sys, err := app.Start(ctx, app.Config{
		RedisURL:      *redisURL,
		DatabaseURL:   *databaseURL,
		Addrs:         map[string]string{name: *addr},
		URLs:          map[string]string{app.Products: *productsURL, app.Orders: *ordersURL, app.History: *historyURL},
		Secret:        key,
		OperatorToken: *operatorToken,
		Gateway: gateway.Config{
			AllowedOrigins: splitList(*origins), RateLimitIP: *rateLimitIP,
			TrustProxy: *trustProxy, SecureCookies: *secureCookies,
		},
		StreamMaxAge: *streamMaxAge,
		Seed:         *seed,
		Log:          log,
	}, name)
	if err != nil {
		return err
	}
	log.Info("serving", "url", sys.URLs[name])
	return sys.Wait()
}

// runMigrate applies every service's migrations and exits.
func runMigrate(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	databaseURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (env DATABASE_URL)")
	if err := config.Parse(fs, "STREAMCART", args); err != nil {
		return err
	}
	if *databaseURL == "" {
		return errors.New("--database-url (env DATABASE_URL) is required")
	}
	return app.Migrate(ctx, *databaseURL)
}

// runHistory runs "history rebuild": recreate the order history read model
// by replaying the streams.
func runHistory(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" {
		fmt.Fprintln(stderr, "usage: streamcart history rebuild [--redis-url URL]")
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("streamcart history rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	redisURL := fs.String("redis-url", os.Getenv("REDIS_URL"), "Redis URL (env REDIS_URL)")
	if err := config.Parse(fs, "STREAMCART", args[1:]); err != nil {
		return err
	}
	if *redisURL == "" {
		return errors.New("--redis-url (env REDIS_URL) is required")
	}
	log, err := logging.New(stderr, "text", "info", "orderhistory")
	if err != nil {
		return err
	}
	if err := app.RebuildHistory(ctx, *redisURL, log); err != nil {
		return err
	}
	log.Info("order history rebuilt")
	return nil
}
