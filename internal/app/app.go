// Package app assembles streamcart's services into a running system. Each
// service gets its own listener, its own PostgreSQL pool (on its own
// schema) and its own Redis client, and talks to the others only over HTTP
// and Redis Streams, exactly as when they run as separate processes.
// "streamcart dev" starts them all in one process; "streamcart serve NAME"
// starts one; the end-to-end tests start them on throwaway servers.
package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"streamcart/internal/events"
	"streamcart/internal/gateway"
	"streamcart/internal/identity"
	"streamcart/internal/ops"
	"streamcart/internal/ordercheck"
	"streamcart/internal/orderhistory"
	"streamcart/internal/orders"
	"streamcart/internal/outbox"
	"streamcart/internal/payments"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/metrics"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/redisclient"
	"streamcart/internal/platform/tracing"
	"streamcart/internal/platform/web"
	"streamcart/internal/products"
	"streamcart/internal/storefront"
	"streamcart/internal/stream"
)

// Service names, in start order.
const (
	Products = "products"
	Payments = "payments"
	Orders   = "orders"
	History  = "orderhistory"
	Identity = "identity"
	Gateway  = "gateway"
)

// Services lists every service name, in start order: a service starts
// after those it calls (orders calls products; payments, the order
// history and identity call orders; the gateway calls them all).
var Services = []string{Products, Orders, Payments, History, Identity, Gateway}

// Config configures a system. RedisURL and DatabaseURL are required.
type Config struct {
	// RedisURL is the Redis of every service that RedisURLs leaves out.
	RedisURL string
	// RedisURLs maps a name of RedisUserNames (a service, or Ops for the
	// operations page) to its own Redis URL, with the credentials of its
	// Redis user (RedisUsers).
	RedisURLs map[string]string
	// Names are the streams and key prefixes of the services, and how many
	// partitions the streams have. Zero fields: the defaults
	// (DefaultRedisNames).
	Names       RedisNames
	DatabaseURL string
	// Addrs maps a service name to its listen address. A service missing
	// from it listens on Host with any free port.
	Addrs map[string]string
	// Host is the interface of services without an address. Default
	// 127.0.0.1.
	Host string
	// URLs maps a service name to the base URL of a service this process
	// does not run (for "serve"); running services use their own.
	URLs map[string]string
	// Secret signs identities between the gateway and services, the
	// orders service's OrderPlaced events (events.OrderKey) and the
	// products service's ProductChanged events (events.ProductKey); at least 32
	// bytes. Default: random, which only works when every service is in
	// this process.
	Secret []byte
	// Seed loads the sample catalog into an empty products table.
	Seed bool
	// PaymentFailAbove is the payments service's limit in cents; 0 keeps
	// its default.
	PaymentFailAbove int64
	// ShutdownTimeout bounds the graceful shutdown of each server and
	// consumer. Default 10s.
	ShutdownTimeout time.Duration
	// StreamMaxAge is how much of each stream its writers keep, by entry
	// age (approximately); zero keeps everything. See orders.Config.
	StreamMaxAge time.Duration
	// Linger is how long each stream consumer and outbox relay that keeps
	// up waits after a batch before the next (stream.Config.Linger,
	// outbox.Config.Linger). Zero: none, every event is handled as soon as
	// it is there.
	Linger time.Duration
	// Gateway configures the gateway; its service URLs are filled in.
	Gateway gateway.Config
	// LoginRetention is how long the identity service keeps a login
	// identity after it was last seen; 0 keeps its default (90 days).
	LoginRetention time.Duration
	// OperatorToken opens the operations page /ops (package ops), which
	// the gateway serves; empty keeps it closed.
	OperatorToken string
	// MetricsAddr is the address of a listener apart from the services'
	// that serves each running service's metrics as GET
	// /metrics/{service}, and as GET /metrics too when one service runs.
	// Every service but the gateway also serves GET /metrics on its own
	// port; the gateway's port is public, so its metrics are served only
	// here. Empty: no such listener, and no gateway metrics.
	MetricsAddr string
	// NoMetrics turns the metrics off: nothing is counted, no state is
	// read for them, no GET /metrics is served and MetricsAddr is unused.
	NoMetrics bool
	// Tuning shortens the stream and outbox timings, for tests.
	Tuning Tuning
	// Tracing records each service's spans, with its own TracerProvider
	// (tracing.Tracing.Provider): of every HTTP request served and sent,
	// outbox insert, relay publish and consumer handling. Nil: none.
	Tracing *tracing.Tracing
	// Log is the root logger; each service logs with its name added. Required.
	Log *slog.Logger
}

// Tuning holds timings that tests shorten; zero values keep the defaults
// of the packages that own them.
type Tuning struct {
	Consumer          stream.Config // only the timing fields are used
	Outbox            outbox.Config
	StuckAfter        time.Duration
	ReconcileInterval time.Duration
}

// System is a set of running services.
type System struct {
	// URLs has the base URL of each running service.
	URLs map[string]string
	// Routes has the route table of each running service but the
	// gateway: every route it serves, with who may call it.
	Routes map[string][]auth.Route
	Signer *auth.Signer
	// OrderKey signs the OrderPlaced events (orders) and checks them
	// (payments, identity, orderhistory); it is derived from Secret.
	OrderKey *events.OrderKey
	// ProductKey signs the ProductChanged events (products) and checks
	// them (orders); it is derived from Secret.
	ProductKey *events.ProductKey
	// MetricsURLs has, for each running service, the URL at which its
	// metrics are served (Config.MetricsAddr); none for the gateway when
	// it is not set.
	MetricsURLs map[string]string

	group   *errgroup.Group
	closers []func()
	metrics map[string]*metrics.Registry // each running service's
}

// Start starts the services named (all when names is empty) and returns
// once each is listening. They run until ctx is cancelled; Wait returns
// then.
func Start(ctx context.Context, cfg Config, names ...string) (*System, error) {
	if cfg.RedisURL == "" || cfg.DatabaseURL == "" {
		return nil, ErrNoServers
	}
	if cfg.Log == nil {
		return nil, errors.New("app: a logger is required")
	}
	if len(names) == 0 {
		names = Services
	}
	for _, name := range names {
		if !slices.Contains(Services, name) {
			return nil, fmt.Errorf("unknown service %q (have %v)", name, Services)
		}
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	cfg.Names = cfg.Names.withDefaults()
	if p := cfg.Names.StreamPartitions; p < 1 || p > stream.MaxPartitions {
		return nil, fmt.Errorf("app: %d stream partitions; want 1 to %d", p, stream.MaxPartitions)
	}
	if cfg.Secret == nil {
		cfg.Secret = make([]byte, 32)
		_, _ = rand.Read(cfg.Secret)
	}
	signer, err := auth.NewSigner(cfg.Secret, time.Minute)
	if err != nil {
		return nil, err
	}
	orderKey, err := events.NewOrderKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	productKey, err := events.NewProductKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	sys := &System{
		URLs: map[string]string{}, Routes: map[string][]auth.Route{}, MetricsURLs: map[string]string{},
		Signer: signer, OrderKey: orderKey, ProductKey: productKey, group: g, metrics: map[string]*metrics.Registry{},
	}
	for _, name := range Services { // in start order: see Services
		if !slices.Contains(names, name) {
			continue
		}
		if err := sys.start(ctx, gctx, cfg, name); err != nil {
			sys.close()
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
	}
	if cfg.MetricsAddr != "" && !cfg.NoMetrics {
		if err := sys.serveMetrics(gctx, cfg); err != nil {
			sys.close()
			return nil, fmt.Errorf("serve metrics: %w", err)
		}
	}
	return sys, nil
}

// Wait blocks until every service has stopped, then releases their pools
// and clients. It returns the first service error.
func (s *System) Wait() error {
	err := s.group.Wait()
	s.close()
	return err
}

func (s *System) close() {
	for _, c := range slices.Backward(s.closers) {
		c()
	}
	s.closers = nil
}

// url returns the base URL of service name, running here or configured.
func (s *System) url(cfg Config, name string) (string, error) {
	if u := s.URLs[name]; u != "" {
		return u, nil
	}
	if u := cfg.URLs[name]; u != "" {
		return u, nil
	}
	return "", fmt.Errorf("no URL for the %s service", name)
}

// start opens name's resources, migrates its schema and starts its server
// and background work in the group.
func (s *System) start(ctx, gctx context.Context, cfg Config, name string) error {
	log := cfg.Log.With("service", name)
	var pool *pgxpool.Pool
	if migrate := migrations[name]; migrate != nil { // the others keep their state in Redis only
		p, err := postgres.Open(ctx, cfg.DatabaseURL, 20)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, p.Close)
		if err := migrate(ctx, p); err != nil {
			return err
		}
		pool = p
	}
	rdb, err := s.openRedis(ctx, cfg, name)
	if err != nil {
		return err
	}
	in := newInstruments(name, rdb, pool, cfg.NoMetrics, log)
	in.partitions = cfg.Names.StreamPartitions
	in.tracer = cfg.Tracing.Provider(name)

	var (
		handler http.Handler
		run     func(context.Context) error
	)
	switch name {
	case Products:
		handler, run, err = s.products(ctx, cfg, pool, rdb, in, log)
	case Payments:
		handler, run, err = s.payments(cfg, pool, rdb, in, log)
	case Orders:
		handler, run, err = s.orders(cfg, pool, rdb, in, log)
	case History:
		handler, run, err = s.history(ctx, cfg, rdb, in, log)
	case Identity:
		handler, run, err = s.identity(cfg, pool, rdb, in, log)
	case Gateway:
		handler, run, err = s.gateway(ctx, cfg, rdb, in, log)
	}
	if err != nil {
		return err
	}
	rt, ownPort := handler.(*auth.Routes)
	if ownPort {
		if in.on() {
			// A service's port is internal: its metrics are open there,
			// as its health is. The gateway's is public
			// (Config.MetricsAddr).
			rt.Handle("GET /metrics", auth.Open, in.reg.Handler())
		}
		s.Routes[name] = rt.Registered()
	}
	if in.on() {
		handler = in.reg.NewHTTP().Handler(handler)
		s.metrics[name] = in.reg
	}
	callers := tracing.Trusted
	if name == Gateway {
		callers = tracing.Public
	}
	handler = tracing.Server(in.tracer, callers, handler)
	addr := cfg.Addrs[name]
	if addr == "" {
		addr = net.JoinHostPort(cfg.Host, "0")
	}
	ln, err := web.Listen(addr)
	if err != nil {
		return err
	}
	s.URLs[name] = "http://" + ln.Addr().String()
	if ownPort && in.on() {
		s.MetricsURLs[name] = s.URLs[name] + "/metrics"
	}
	s.group.Go(func() error { return web.Serve(gctx, ln, handler, log, cfg.ShutdownTimeout) })
	if in.on() {
		s.group.Go(func() error { return in.reg.Run(gctx) })
	}
	if run != nil {
		s.group.Go(func() error { return run(gctx) })
	}
	return nil
}

// openRedis opens the Redis client of user name (a service or Ops), at
// its own URL when cfg has one, and closes it with the system.
func (s *System) openRedis(ctx context.Context, cfg Config, name string) (redis.UniversalClient, error) {
	u := cfg.RedisURLs[name]
	if u == "" {
		u = cfg.RedisURL
	}
	// A service reads at most the three streams, each with a reader per
	// partition that holds a connection.
	readers := len(cfg.Names.streams()) * cfg.Names.StreamPartitions
	rdb, err := redisclient.Open(ctx, u, redisclient.BlockingReaders(readers))
	if err != nil {
		return nil, fmt.Errorf("redis of %s: %w", name, err)
	}
	s.closers = append(s.closers, func() { _ = rdb.Close() })
	return rdb, nil
}

func (s *System) products(ctx context.Context, cfg Config, pool *pgxpool.Pool, rdb redis.UniversalClient, in *instruments, log *slog.Logger) (http.Handler, func(context.Context) error, error) {
	svc, err := products.NewService(pool, rdb, products.Config{
		KeyPrefix:        cfg.Names.ProductsPrefix,
		ProductKey:       s.ProductKey,
		ProductsStream:   cfg.Names.ProductsStream,
		Outbox:           outboxConfig(cfg, in, products.Schema),
		StreamMaxAge:     cfg.StreamMaxAge,
		StreamPartitions: cfg.Names.StreamPartitions,
	}, log)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Seed {
		if err := svc.Seed(ctx); err != nil {
			return nil, nil, err
		}
	}
	return products.NewHandler(svc, s.Signer), svc.Run, nil
}

func (s *System) payments(cfg Config, pool *pgxpool.Pool, rdb redis.UniversalClient, in *instruments, log *slog.Logger) (http.Handler, func(context.Context) error, error) {
	orders, err := s.ordersLookup(cfg, Payments)
	if err != nil {
		return nil, nil, err
	}
	svc, err := payments.NewService(pool, rdb, payments.Config{
		OrderKey:       s.OrderKey,
		Orders:         orders,
		OrdersStream:   cfg.Names.OrdersStream,
		PaymentsStream: cfg.Names.PaymentsStream,
		FailAbove:      cfg.PaymentFailAbove,
		ServiceConfig:  serviceConfig(cfg, in, payments.Schema),
	}, log)
	return started(svc, err, func(svc *payments.Service) http.Handler { return payments.NewHandler(svc, s.Signer) })
}

func (s *System) orders(cfg Config, pool *pgxpool.Pool, rdb redis.UniversalClient, in *instruments, log *slog.Logger) (http.Handler, func(context.Context) error, error) {
	productsURL, err := s.url(cfg, Products)
	if err != nil {
		return nil, nil, err
	}
	svc, err := orders.NewService(pool, rdb, orders.Config{
		OrderKey:          s.OrderKey,
		ProductKey:        s.ProductKey,
		OrdersStream:      cfg.Names.OrdersStream,
		PaymentsStream:    cfg.Names.PaymentsStream,
		SnapshotsStream:   cfg.Names.SnapshotsStream,
		ProductsStream:    cfg.Names.ProductsStream,
		ProductsURL:       productsURL,
		Signer:            s.Signer,
		StuckAfter:        cfg.Tuning.StuckAfter,
		ReconcileInterval: cfg.Tuning.ReconcileInterval,
		ServiceConfig:     serviceConfig(cfg, in, orders.Schema),
		Metrics:           in.ordersMetrics(),
	}, log)
	if err == nil {
		in.watchPriceCopy(svc.PriceCopyLag)
	}
	return started(svc, err, func(svc *orders.Service) http.Handler { return orders.NewHandler(svc, s.Signer) })
}

func (s *System) history(ctx context.Context, cfg Config, rdb redis.UniversalClient, in *instruments, log *slog.Logger) (http.Handler, func(context.Context) error, error) {
	ordersURL, err := s.url(cfg, Orders)
	if err != nil {
		return nil, nil, err
	}
	snapshots, err := orderhistory.NewOrdersClient(ordersURL, s.Signer)
	if err != nil {
		return nil, nil, err
	}
	orders, err := s.ordersLookup(cfg, History)
	if err != nil {
		return nil, nil, err
	}
	svc, err := orderhistory.NewService(rdb, orderhistory.Config{
		OrderKey:          s.OrderKey,
		Snapshots:         snapshots,
		Orders:            orders,
		KeyPrefix:         cfg.Names.HistoryPrefix,
		OrdersStream:      cfg.Names.OrdersStream,
		PaymentsStream:    cfg.Names.PaymentsStream,
		TransactionStream: cfg.Names.TransactionStream,
		SnapshotsStream:   cfg.Names.SnapshotsStream,
		Consumer:          consumerConfig(cfg, in),
	}, log)
	if err != nil {
		return nil, nil, err
	}
	// With orders in this process, and so already serving, the history is
	// made complete before it serves, so that its first readers get it
	// rather than a 503. Started alone, it must not wait for orders: its
	// check rebuilds it once orders answers.
	if s.URLs[Orders] != "" {
		if _, err := svc.EnsureComplete(ctx); err != nil {
			return nil, nil, err
		}
	}
	return orderhistory.NewHandler(svc, s.Signer), svc.Run, nil
}

func (s *System) identity(cfg Config, pool *pgxpool.Pool, rdb redis.UniversalClient, in *instruments, log *slog.Logger) (http.Handler, func(context.Context) error, error) {
	orders, err := s.ordersLookup(cfg, Identity)
	if err != nil {
		return nil, nil, err
	}
	svc, err := identity.NewService(pool, rdb, identity.Config{
		OrderKey:          s.OrderKey,
		Orders:            orders,
		OrdersStream:      cfg.Names.OrdersStream,
		TransactionStream: cfg.Names.TransactionStream,
		ServiceConfig:     serviceConfig(cfg, in, identity.Schema),
		LoginRetention:    cfg.LoginRetention,
	}, log)
	return started(svc, err, func(svc *identity.Service) http.Handler { return identity.NewHandler(svc, s.Signer) })
}

// ordersLookup returns the client with which service asks the orders
// service whether the orders of its OrderPlaced events exist
// (ordercheck).
func (s *System) ordersLookup(cfg Config, service string) (*ordercheck.Client, error) {
	u, err := s.url(cfg, Orders)
	if err != nil {
		return nil, err
	}
	return ordercheck.NewClient(u, s.Signer, service)
}

// started returns what start needs of a service that its NewService
// returned with err: the HTTP handler that handler makes of it, and its
// Run.
func started[S interface{ Run(context.Context) error }](svc S, err error, handler func(S) http.Handler) (http.Handler, func(context.Context) error, error) {
	if err != nil {
		return nil, nil, err
	}
	return handler(svc), svc.Run, nil
}

func (s *System) gateway(ctx context.Context, cfg Config, rdb redis.UniversalClient, in *instruments, log *slog.Logger) (http.Handler, func(context.Context) error, error) {
	var urls [3]string
	for i, name := range []string{Products, Orders, History} {
		u, err := s.url(cfg, name)
		if err != nil {
			return nil, nil, err
		}
		urls[i] = u
	}
	gcfg := cfg.Gateway
	gcfg.ProductsURL, gcfg.OrdersURL, gcfg.HistoryURL = urls[0], urls[1], urls[2]
	gcfg.StreamMaxAge = cfg.StreamMaxAge
	gcfg.KeyPrefix, gcfg.TransactionStream = cfg.Names.GatewayPrefix, cfg.Names.TransactionStream
	gcfg.StreamPartitions = cfg.Names.StreamPartitions
	g, err := gateway.New(rdb, s.Signer, gcfg, log)
	if err != nil {
		return nil, nil, err
	}
	// The storefront calls the gateway's API in this process, through the
	// gateway's own handler: its listen address is not known yet, and
	// in-process calls keep the browser's address for rate limits and
	// identity scores. The URL's host is never dialled.
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.Handler().ServeHTTP(w, r) })
	shop, err := storefront.New(storefront.Config{
		APIURL: "http://gateway.in-process",
		Client: &http.Client{Transport: storefront.InProcess(api), Timeout: storefront.DefaultAPITimeout},
	}, log.With("component", "storefront"))
	if err != nil {
		return nil, nil, err
	}
	// The operations page owns its routes and draws its pages with the
	// storefront's templates.
	// The page reads every stream and replays dead letters, which the
	// gateway's Redis user may not: it has a Redis user of its own.
	opsRedis, err := s.openRedis(ctx, cfg, Ops)
	if err != nil {
		return nil, nil, err
	}
	in.watchRedis(Ops, opsRedis)
	operations, err := ops.New(opsRedis, shop, ops.Config{
		Streams:       cfg.Names.opsStreams(),
		Partitions:    cfg.Names.StreamPartitions,
		KeyPrefix:     cfg.Names.OpsPrefix,
		OperatorToken: cfg.OperatorToken,
		SecureCookies: gcfg.SecureCookies,
		Journey:       s.journey(cfg, urls[1], urls[2], log),
	}, log.With("component", "ops"))
	if err != nil {
		return nil, nil, err
	}
	operations.Register(g.Mount)
	g.Mount("/", shop.Handler())
	return g.Handler(), g.Run, nil
}

// journey returns where the operations page asks about an order's
// journey, each service telling its own steps: nothing (the page says
// journeys are not set up) when the payments service's URL is not known,
// which the gateway needs for nothing else.
func (s *System) journey(cfg Config, ordersURL, historyURL string, log *slog.Logger) ops.JourneyConfig {
	paymentsURL, err := s.url(cfg, Payments)
	if err != nil {
		log.Warn("the operations page shows no order journeys: it needs the payments service's URL", "err", err)
		return ops.JourneyConfig{}
	}
	return ops.JourneyConfig{OrdersURL: ordersURL, PaymentsURL: paymentsURL, HistoryURL: historyURL, Signer: s.Signer}
}

// RebuildHistory recreates the order history read model in the Redis of
// redisURL (orderhistory.Service.Rebuild): from the snapshots of every
// order that it asks the orders service at ordersURL for, and from the
// streams. secret is the services' identity secret: it signs the call to
// orders, and the rebuild skips an OrderPlaced or OrderSnapshot that the
// orders service did not sign with it, or whose order orders does not
// have as the event says, as the service's consumer dead-letters it.
// partitions is how many partitions each stream has (0 means 1).
func RebuildHistory(ctx context.Context, redisURL, ordersURL string, secret []byte, partitions int, log *slog.Logger) error {
	orderKey, err := events.NewOrderKey(secret)
	if err != nil {
		return err
	}
	signer, err := auth.NewSigner(secret, time.Minute)
	if err != nil {
		return err
	}
	snapshots, err := orderhistory.NewOrdersClient(ordersURL, signer)
	if err != nil {
		return err
	}
	orders, err := ordercheck.NewClient(ordersURL, signer, History)
	if err != nil {
		return err
	}
	rdb, err := redisclient.Open(ctx, redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	svc, err := orderhistory.NewService(rdb, orderhistory.Config{
		OrderKey: orderKey, Snapshots: snapshots, Orders: orders,
		Consumer: stream.Config{Partitions: partitions},
	}, log)
	if err != nil {
		return err
	}
	return svc.Rebuild(ctx)
}

// Migrate applies the migrations of every service's schema.
func Migrate(ctx context.Context, databaseURL string) error {
	pool, err := postgres.Open(ctx, databaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, name := range Services {
		if migrate := migrations[name]; migrate != nil {
			if err := migrate(ctx, pool); err != nil {
				return err
			}
		}
	}
	return nil
}

// migrations has the Migrate of each service that keeps state in
// PostgreSQL; start runs it before the service starts.
var migrations = map[string]func(context.Context, *pgxpool.Pool) error{
	Products: products.Migrate,
	Payments: payments.Migrate,
	Orders:   orders.Migrate,
	Identity: identity.Migrate,
}

// serviceConfig returns the consumer, outbox and retention of a service
// that consumes streams and publishes through its outbox in schema
// (payments, orders, identity), reporting to in; the service fills in its
// streams, group and logger.
func serviceConfig(cfg Config, in *instruments, schema string) outbox.ServiceConfig {
	return outbox.ServiceConfig{Consumer: consumerConfig(cfg, in), Outbox: outboxConfig(cfg, in, schema), StreamMaxAge: cfg.StreamMaxAge}
}

// outboxConfig returns the tuned relay of a service's outbox in schema,
// reporting to in and tracing with its provider.
func outboxConfig(cfg Config, in *instruments, schema string) outbox.Config {
	ob := cfg.Tuning.Outbox
	ob.Linger = cmp.Or(ob.Linger, cfg.Linger)
	ob.Metrics = in.outboxMetrics(schema)
	ob.TracerProvider = in.tracer
	return ob
}

// consumerConfig returns the tuned timings of a consumer, reporting to
// in and tracing with its provider; the service that owns it fills in its
// stream, group and logger.
func consumerConfig(cfg Config, in *instruments) stream.Config {
	t := cfg.Tuning.Consumer
	return stream.Config{
		Partitions: cfg.Names.StreamPartitions,
		Block:      t.Block, MinIdle: t.MinIdle, ClaimInterval: t.ClaimInterval, HandlerTimeout: t.HandlerTimeout,
		RetryBackoff: t.RetryBackoff, MaxRetryBackoff: t.MaxRetryBackoff, MaxDeliveries: t.MaxDeliveries,
		Linger:          cmp.Or(t.Linger, cfg.Linger),
		ShutdownTimeout: cfg.ShutdownTimeout, Metrics: in.streamMetrics(), TracerProvider: in.tracer,
	}
}

// ErrNoServers is returned when neither URLs nor managed servers are set.
var ErrNoServers = errors.New("app: RedisURL and DatabaseURL are required")
