package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"streamcart/internal/app"
	"streamcart/internal/gateway"
	"streamcart/internal/platform/config"
	"streamcart/internal/platform/logging"
	"streamcart/internal/platform/servers"
	"streamcart/internal/platform/web"
)

// devConfig is the configuration of "streamcart dev".
type devConfig struct {
	Addr          string
	Origins       string
	PublicURL     string
	OperatorToken string
	// IdentitySecret is the hex identity secret; empty: the one in
	// Data/identity-secret, made at the first start.
	IdentitySecret string
	PprofAddr      string
	MetricsAddr    string
	Metrics        bool
	RateLimitIP    int
	NewSessions    int
	StreamsPerIP   int
	StreamMaxAge   time.Duration
	Linger         time.Duration
	Partitions     int
	Data           string
	RedisURL       string
	DatabaseURL    string
	RedisPort      int
	RedisCluster   bool
	PostgresPort   int
	AppendFsync    string
	LogFormat      string
	LogLevel       string
}

// defaultLinger and lingerUsage are the --linger flag's default and usage.
const (
	defaultLinger = 15 * time.Millisecond
	lingerUsage   = "how long a stream consumer or outbox relay that keeps up waits after a batch before the next, so that what arrives meanwhile is handled together: fewer reads, transactions and commands per event, at most this much more latency (0: none)"
)

const devUsage = `usage: streamcart dev [flags]

Run the whole system in one process: every service on its own loopback
port, the gateway on --addr, on a managed Redis and PostgreSQL kept in
--data (or on the ones --redis-url and --database-url name).
OpenTelemetry traces are exported with OTLP over HTTP when
OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md#tracing).`

// parseDevConfig parses dev's flags; it returns the flag set too, for
// logging the effective configuration.
func parseDevConfig(args []string, stdout, stderr io.Writer) (devConfig, *flag.FlagSet, error) {
	var cfg devConfig
	fs := flag.NewFlagSet("streamcart dev", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", ":8080", "listen address of the gateway, the one public endpoint")
	fs.StringVar(&cfg.OperatorToken, "operator-token", "", "token that opens the operations page /ops (empty: a random one, printed at start)")
	fs.StringVar(&cfg.IdentitySecret, "identity-secret", "", "hex secret (>= 32 bytes) that signs identities between gateway and services, and session tokens (empty: the one in <data>/identity-secret, made at the first start); pass it to \"streamcart token\" to call services directly")
	fs.StringVar(&cfg.Origins, "allowed-origins", "", "comma-separated origins allowed to call the API from a browser (CORS), e.g. http://localhost:3000")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "URL at which clients reach the gateway, e.g. http://localhost:8080: the base of absolute URLs in tutorial responses (empty: from each request's host)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "127.0.0.1:9464", "serve every service's metrics on this address as /metrics/<service> (deploy/observability/prometheus.yml scrapes it); empty: only on each service's own port, none for the gateway")
	fs.BoolVar(&cfg.Metrics, "metrics", true, "count and serve Prometheus metrics (false: none at all, e.g. to measure what they cost)")
	fs.StringVar(&cfg.PprofAddr, "pprof", "", "serve net/http/pprof on this address, e.g. 127.0.0.1:6060 (off when empty)")
	fs.IntVar(&cfg.RateLimitIP, "rate-limit-ip", 0, "requests per second per client address at the gateway (0: the default, 2000; negative: no limit, e.g. for streamcart bench)")
	fs.IntVar(&cfg.NewSessions, "new-sessions-per-minute", 0, "sessions one client address may start per minute (0: the default, 60; negative: no limit, e.g. for streamcart bench)")
	fs.IntVar(&cfg.StreamsPerIP, "event-streams-per-ip", 0, "order event streams open at once per client address (0: the default, 64; negative: no limit, e.g. for streamcart bench)")
	fs.DurationVar(&cfg.StreamMaxAge, "stream-max-age", 0, "how much of each stream to keep, by entry age (e.g. 168h; trimmed approximately as events are appended); 0 keeps everything")
	fs.DurationVar(&cfg.Linger, "linger", defaultLinger, lingerUsage)
	fs.IntVar(&cfg.Partitions, "stream-partitions", 1, "how many partitions each of ORDERS_STREAM, PAYMENTS_STREAM and TRANSACTION_STREAM has (1 to 64; 1: one stream under its own name)")
	fs.StringVar(&cfg.Data, "data", "./data", "directory for all data of the managed Redis and PostgreSQL")
	fs.StringVar(&cfg.RedisURL, "redis-url", os.Getenv("REDIS_URL"), "use this Redis instead of a managed one (env REDIS_URL)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "use this PostgreSQL database instead of a managed one (env DATABASE_URL)")
	fs.IntVar(&cfg.RedisPort, "redis-port", 0, "loopback port of the managed Redis, or of the first node of --redis-cluster (0: any free port)")
	fs.BoolVar(&cfg.RedisCluster, "redis-cluster", false, "run the managed Redis as a Redis Cluster: three primaries with a replica each, six redis-server processes, in <data>/redis-cluster")
	fs.IntVar(&cfg.PostgresPort, "postgres-port", 0, "loopback port of the managed PostgreSQL (0: any free port)")
	fs.StringVar(&cfg.AppendFsync, "redis-appendfsync", "everysec", "appendfsync policy of the managed Redis: always, everysec or no")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := parseFlags(fs, "STREAMCART", devUsage, args, stdout, stderr); err != nil {
		return cfg, nil, err
	}
	if cfg.RedisCluster && cfg.RedisURL != "" {
		return cfg, nil, usageErrorf("--redis-cluster starts a managed cluster; it cannot go with --redis-url (env REDIS_URL), which names a Redis (or a cluster, redis+cluster://) to use instead")
	}
	return cfg, fs, nil
}

// runDev starts the managed servers and, once started, waits for ctx to be
// cancelled (Ctrl-C), then stops them.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, fs, err := parseDevConfig(args, stdout, stderr)
	if err != nil {
		return err
	}
	// The services add their own service attribute to root; dev's own
	// lines (and go-redis's, which belong to no one service) say "dev".
	root, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel, "")
	if err != nil {
		return usageError{err}
	}
	log := root.With("service", "dev")
	routeGoRedisLog(log)
	log.Info("starting", "version", version(), config.Effective(fs, "operator-token", "identity-secret"))
	data, err := filepath.Abs(cfg.Data)
	if err != nil {
		return err
	}
	secret, err := devIdentitySecret(cfg.IdentitySecret, data)
	if err != nil {
		return err
	}
	if cfg.PprofAddr != "" {
		if err := servePprof(ctx, cfg.PprofAddr, log); err != nil {
			return err
		}
	}
	env, err := startDevServers(ctx, cfg, data, log)
	if err != nil {
		return err
	}
	defer env.stop(log)

	operatorToken := cfg.OperatorToken
	if operatorToken == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		operatorToken = hex.EncodeToString(b[:])
	}
	traces, flush, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	defer flush()
	sys, err := app.Start(ctx, app.Config{
		RedisURL:    env.redisURL,
		RedisURLs:   env.redisURLs,
		DatabaseURL: env.databaseURL,
		Names:       app.RedisNames{StreamPartitions: cfg.Partitions},
		Addrs:       map[string]string{app.Gateway: cfg.Addr},
		Gateway: gateway.Config{
			RateLimitIP: cfg.RateLimitIP, AllowedOrigins: splitList(cfg.Origins),
			NewSessionsPerMinute: cfg.NewSessions, EventStreamsPerIP: cfg.StreamsPerIP,
			PublicURL: cfg.PublicURL,
		},
		OperatorToken: operatorToken,
		MetricsAddr:   cfg.MetricsAddr,
		NoMetrics:     !cfg.Metrics,
		Secret:        secret,
		StreamMaxAge:  cfg.StreamMaxAge,
		Linger:        cfg.Linger,
		Seed:          true,
		Tracing:       traces,
		Log:           root,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nstreamcart dev is running (data in %s)\n", data)
	fmt.Fprintf(stdout, "  Redis:        %s\n", config.MaskPasswords(env.redisURL))
	if env.redis != nil {
		fmt.Fprintf(stdout, "                each service as its own Redis user; the admin (default user) password is in %s\n", env.adminPasswordFile)
	}
	fmt.Fprintf(stdout, "  PostgreSQL:   %s\n", config.MaskPasswords(env.databaseURL))
	for _, name := range app.Services {
		fmt.Fprintf(stdout, "  %-13s %s\n", name+":", sys.URLs[name])
	}
	fmt.Fprintf(stdout, "\nMetrics (Prometheus; deploy/observability/prometheus.yml scrapes them):\n")
	if !cfg.Metrics {
		fmt.Fprintf(stdout, "  none: --metrics=false\n")
	}
	for _, name := range app.Services {
		if !cfg.Metrics {
			break
		}
		if u := sys.MetricsURLs[name]; u != "" {
			fmt.Fprintf(stdout, "  %-13s %s\n", name+":", u)
		} else {
			fmt.Fprintf(stdout, "  %-13s none: its port is public; set --metrics-addr\n", name+":")
		}
	}
	shop := browserURL(sys.URLs[app.Gateway])
	fmt.Fprintf(stdout, "\nOperations page: %s/ops (operator token %s)\n", shop, operatorToken)
	fmt.Fprintf(stdout, "\nOpen %s\nPress Ctrl-C to stop.\n\n", shop)
	err = sys.Wait()
	log.Info("stopped")
	return err
}

// devServers are the Redis and PostgreSQL that dev uses: managed ones it
// started, or the ones the configuration names.
type devServers struct {
	redisURL, databaseURL string
	// redisURLs has the URL of each Redis user (app.RedisUserNames) of
	// the managed Redis; empty on a Redis that --redis-url names.
	redisURLs         map[string]string
	adminPasswordFile string
	redis             managedRedis
	postgres          *servers.Postgres
}

// managedRedis is what dev uses of the Redis it manages, a
// *servers.Redis or, with --redis-cluster, a *servers.RedisCluster.
type managedRedis interface {
	URL() string
	UserURL(name string) (string, error)
	Stop(context.Context) error
}

func startDevServers(ctx context.Context, cfg devConfig, data string, log *slog.Logger) (*devServers, error) {
	env := &devServers{redisURL: cfg.RedisURL, databaseURL: cfg.DatabaseURL}
	if env.redisURL == "" || env.databaseURL == "" {
		if err := servers.Preflight(); err != nil {
			return nil, fmt.Errorf("%w\n(or run \"make run\", which installs them)", err)
		}
	}
	if env.redisURL == "" {
		dir := filepath.Join(data, "redis")
		if cfg.RedisCluster {
			dir = filepath.Join(data, "redis-cluster")
		}
		if err := env.startRedis(ctx, cfg, dir, log); err != nil {
			return nil, err
		}
	}
	if env.databaseURL == "" {
		p, err := servers.StartPostgres(ctx, servers.PostgresOptions{
			Dir: filepath.Join(data, "postgres"), Port: cfg.PostgresPort, Logger: log,
			// As root, for a data dir the postgres user cannot reach (a
			// clone under /root): the cluster goes here, linked from it.
			FallbackRoot: "/var/lib/streamcart",
		})
		if err != nil {
			env.stop(log)
			return nil, err
		}
		env.postgres = p
		if err := p.CreateDatabase(ctx, "streamcart"); err != nil {
			env.stop(log)
			return nil, err
		}
		env.databaseURL = p.URL("streamcart")
	}
	return env, nil
}

// startRedis starts the managed Redis (a Redis Cluster with
// --redis-cluster) in dir with the Redis user of every service
// (app.RedisUsers) on every node, new passwords each time, and a password
// on the default user, an admin's, kept in dir/admin-password for tools
// such as redis-cli.
func (env *devServers) startRedis(ctx context.Context, cfg devConfig, dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	env.adminPasswordFile = filepath.Join(dir, "admin-password")
	admin, err := readOrCreateSecret(env.adminPasswordFile, 24)
	if err != nil {
		return err
	}
	passwords := map[string]string{}
	for _, name := range app.RedisUserNames {
		passwords[name] = randomHex(24)
	}
	names := app.DefaultRedisNames()
	names.StreamPartitions = cfg.Partitions
	users, err := app.RedisUsers(names, passwords)
	if err != nil {
		return err
	}
	var r managedRedis
	if cfg.RedisCluster {
		r, err = servers.StartRedisCluster(ctx, servers.RedisClusterOptions{
			Dir: dir, BasePort: cfg.RedisPort, AppendFsync: cfg.AppendFsync, Logger: log,
			AdminPassword: admin, Users: users,
		})
	} else {
		r, err = servers.StartRedis(ctx, servers.RedisOptions{
			Dir: dir, Port: cfg.RedisPort, AppendFsync: cfg.AppendFsync, Logger: log,
			AdminPassword: admin, Users: users,
		})
	}
	if err != nil {
		return err
	}
	env.redis, env.redisURL = r, r.URL()
	env.redisURLs = map[string]string{}
	for _, name := range app.RedisUserNames {
		if env.redisURLs[name], err = r.UserURL(name); err != nil {
			return err
		}
	}
	return nil
}

// devIdentitySecret returns the identity secret of flag (hex), or else
// the one kept in data/identity-secret, made at the first start: session
// tokens are signed with it, so that a new one at each start would end
// every shopper's session (and leave OrderPlaced entries still pending
// unverifiable).
func devIdentitySecret(flag, data string) ([]byte, error) {
	if flag == "" {
		if err := os.MkdirAll(data, 0o755); err != nil {
			return nil, err
		}
		var err error
		if flag, err = readOrCreateSecret(filepath.Join(data, "identity-secret"), 32); err != nil {
			return nil, err
		}
	}
	secret, err := hex.DecodeString(flag)
	if err != nil || len(secret) < 32 {
		return nil, usageErrorf("--identity-secret (env STREAMCART_IDENTITY_SECRET) must be at least 32 bytes, hex encoded; generate one with: openssl rand -hex 32")
	}
	return secret, nil
}

// readOrCreateSecret returns the secret in the file at path, first writing
// a random one of n bytes there, hex encoded and readable by its owner
// only, when there is none.
func readOrCreateSecret(path string, n int) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	secret := randomHex(n)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	return secret, nil
}

// randomHex returns n random bytes, hex encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// stop stops the managed servers, PostgreSQL first, each within 15s.
func (env *devServers) stop(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if env.postgres != nil {
		if err := env.postgres.Stop(ctx); err != nil {
			log.Error("stopping postgres", "err", err)
		}
	}
	if env.redis != nil {
		if err := env.redis.Stop(ctx); err != nil {
			log.Error("stopping redis", "err", err)
		}
	}
}

// browserURL turns a listener URL such as http://[::]:8080 into one a
// browser on this machine can open.
func browserURL(u string) string {
	for _, any := range []string{"http://[::]:", "http://0.0.0.0:"} {
		if strings.HasPrefix(u, any) {
			return "http://localhost:" + strings.TrimPrefix(u, any)
		}
	}
	return u
}

// servePprof serves the runtime profiles (net/http/pprof) on addr until ctx
// ends, for finding where the time goes under load.
func servePprof(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := web.Listen(addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	go func() {
		if err := web.Serve(ctx, ln, mux, log, time.Second); err != nil {
			log.Error("pprof server", "err", err)
		}
	}()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
