// Package testenv gives integration tests real Redis and PostgreSQL
// servers. A test binary that calls Main from its TestMain shares one
// redis-server, one Redis Cluster (RedisCluster) and one PostgreSQL (in
// servers' Fast mode), each started on
// first use on a free loopback port in a temporary directory and stopped
// when the tests end. Tests keep apart by using fresh names (Name) for
// streams, groups and keys, and a fresh database per call to Postgres.
//
// Set REDIS_URL, REDIS_CLUSTER_URL or DATABASE_URL to use existing
// servers instead; the
// DATABASE_URL role must be allowed to create databases.
//
// When a server binary is missing the test fails with the apt-get command
// that installs it, so CI never passes by skipping; with -short it is
// skipped instead.
//
// testenv also holds the helpers that tests of several packages share, so
// that no package writes them again: WaitFor polls a condition; Run and
// Start run a service or command in the background; Logger and Buffer take
// logs; RedisAt and PoolAt are clients of a server of the test's own;
// Migrate and Empty work on a service's database; Handled and Entries
// read streams; Repeats tables the ways an event arrives twice;
// CheckConfigs checks a table of configurations; Do sends a request and
// JSON is a body as a client decodes it; StartProxy puts a proxy that
// breaks connections on request between a client and a server, and
// DeadAddr, DeadRedis and DeadPool are servers that are down. What only
// the services' tests share, which needs their packages (signing keys,
// events), is in package servicetest.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"streamcart/internal/platform/servers"
)

// Timeouts for starting and stopping servers and for administrative SQL.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 30 * time.Second
	adminTimeout = time.Minute
)

// shared is the state of one test binary. It is package-level because it
// lives exactly as long as the test binary and testenv is only imported by
// tests.
var shared = harness{
	redis: lazy[*servers.Redis]{
		env: "REDIS_URL",
		start: func(ctx context.Context, base string) (*servers.Redis, error) {
			return servers.StartRedis(ctx, servers.RedisOptions{Dir: filepath.Join(base, "redis")})
		},
		url: (*servers.Redis).URL,
	},
	cluster: lazy[*servers.RedisCluster]{
		env: "REDIS_CLUSTER_URL",
		start: func(ctx context.Context, base string) (*servers.RedisCluster, error) {
			return servers.StartRedisCluster(ctx, servers.RedisClusterOptions{Dir: filepath.Join(base, "redis-cluster")})
		},
		url: (*servers.RedisCluster).URL,
	},
	pg: lazy[*servers.Postgres]{
		env: "DATABASE_URL",
		start: func(ctx context.Context, base string) (*servers.Postgres, error) {
			return servers.StartPostgres(ctx, servers.PostgresOptions{Dir: filepath.Join(base, "pg"), Fast: true})
		},
		url: func(pg *servers.Postgres) string { return pg.URL("postgres") },
	},
}

type harness struct {
	mainCalled atomic.Bool

	baseOnce sync.Once
	base     string // parent of every directory testenv creates
	baseErr  error

	redis lazy[*servers.Redis]
	// cluster is a Redis Cluster of three primaries and their replicas.
	cluster lazy[*servers.RedisCluster]
	// pg's URL is of the maintenance database, used to create and drop
	// databases.
	pg       lazy[*servers.Postgres]
	stopOnce sync.Once
}

// lazy is a server that the test binary shares, started on first use:
// $env if set, else the server that start starts, with its data below
// the base directory, reached at url.
type lazy[S interface{ Stop(context.Context) error }] struct {
	env   string
	start func(ctx context.Context, base string) (S, error)
	url   func(S) string

	once    sync.Once
	srv     S
	started bool // false when a URL from the environment is used
	srvURL  string
	err     error
}

// get returns the URL of the server, starting it below base the first
// time it is needed.
func (l *lazy[S]) get(t testing.TB, base string) string {
	t.Helper()
	if url := os.Getenv(l.env); url != "" {
		return url
	}
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		l.srv, l.err = l.start(ctx, base)
		l.started = l.err == nil
		if l.started {
			l.srvURL = l.url(l.srv)
		}
	})
	if l.err != nil {
		failStart(t, l.err)
	}
	return l.srvURL
}

// stop stops the server if get started it, and keeps it from starting
// later.
func (l *lazy[S]) stop(ctx context.Context) error {
	l.once.Do(func() {})
	if !l.started {
		return nil
	}
	return l.srv.Stop(ctx)
}

// Main runs the tests of a package and then stops the servers testenv
// started and removes their data. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Main does not return.
func Main(m *testing.M) {
	shared.mainCalled.Store(true)
	code := m.Run()
	if err := shared.shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// shutdown stops PostgreSQL, then Redis and the Redis Cluster, then
// removes the base directory.
func (h *harness) shutdown() error {
	var errs []error
	h.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*stopTimeout)
		defer cancel()
		errs = append(errs, h.pg.stop(ctx), h.redis.stop(ctx), h.cluster.stop(ctx))
		h.baseOnce.Do(func() {}) // base is read after its Once has run, or never written
		if h.base != "" {
			errs = append(errs, os.RemoveAll(h.base))
		}
	})
	return errors.Join(errs...)
}

// baseDir returns the directory under which testenv keeps server data: made
// by os.MkdirTemp, then opened to mode 0755 because PostgreSQL runs as the
// postgres user when tests run as root and must be able to enter it.
func (h *harness) baseDir(t testing.TB) string {
	t.Helper()
	if !h.mainCalled.Load() {
		t.Fatal("testenv: TestMain must call testenv.Main(m), which stops the servers")
	}
	h.baseOnce.Do(func() {
		h.base, h.baseErr = os.MkdirTemp("", "streamcart-testenv-*")
		if h.baseErr == nil {
			h.baseErr = os.Chmod(h.base, 0o755)
		}
	})
	if h.baseErr != nil {
		t.Fatalf("testenv: %v", h.baseErr)
	}
	return h.base
}

// TempDir returns a new directory that the postgres system user can enter,
// removed when t ends. Use it instead of t.TempDir (mode 0700) for data
// directories of servers started with package servers.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(shared.baseDir(t), sanitize(t.Name(), 40)+"-*")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return dir
}

// failStart ends t because a server did not start: Skip under -short when
// a binary is missing, Fatal otherwise. The message names every missing
// package.
func failStart(t testing.TB, err error) {
	t.Helper()
	var missing *servers.MissingError
	if !errors.As(err, &missing) {
		t.Fatalf("testenv: %v", err)
	}
	if all := servers.Preflight(); all != nil {
		err = all
	}
	if testing.Short() {
		t.Skipf("testenv: skipped in -short mode: %v", err)
	}
	t.Fatalf("testenv: %v", err)
}

// OwnRedis starts a private redis-server for t, for tests that kill or
// restart it, and stops it when t ends. appendFsync is the appendfsync
// policy ("" means servers' default, everysec); with "always", Kill loses no
// acknowledged write, which keeps crash tests deterministic.
func OwnRedis(t testing.TB, appendFsync string) *servers.Redis {
	t.Helper()
	return own(t, func(ctx context.Context) (*servers.Redis, error) {
		return servers.StartRedis(ctx, servers.RedisOptions{Dir: TempDir(t), AppendFsync: appendFsync})
	})
}

// OwnRedisCluster starts a private Redis Cluster for t (servers'
// defaults: three primaries with a replica each, cluster-node-timeout 2s),
// for tests that kill its nodes, and stops it when t ends.
func OwnRedisCluster(t testing.TB, appendFsync string) *servers.RedisCluster {
	t.Helper()
	return own(t, func(ctx context.Context) (*servers.RedisCluster, error) {
		return servers.StartRedisCluster(ctx, servers.RedisClusterOptions{Dir: TempDir(t), AppendFsync: appendFsync})
	})
}

// OwnPostgres starts a private PostgreSQL for t, for tests that kill or
// restart it, and stops it when t ends. Unlike the shared server it runs
// with durable settings (not servers' Fast mode), so a committed
// transaction survives Kill. Use its URL method to connect, and
// CreateDatabase for databases other than "postgres".
func OwnPostgres(t testing.TB) *servers.Postgres {
	t.Helper()
	return own(t, func(ctx context.Context) (*servers.Postgres, error) {
		return servers.StartPostgres(ctx, servers.PostgresOptions{Dir: filepath.Join(TempDir(t), "pg")})
	})
}

// own starts a server with start for t alone and stops it when t ends.
func own[S interface{ Stop(context.Context) error }](t testing.TB, start func(context.Context) (S, error)) S {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := start(ctx)
	if err != nil {
		failStart(t, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return srv
}
