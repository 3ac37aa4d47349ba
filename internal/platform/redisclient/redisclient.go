// Package redisclient opens go-redis clients the way every streamcart
// service wants them, for a single Redis or a Redis Cluster.
//
// It leaves go-redis's own logger alone: go-redis has only one, for the
// whole process, so a library setting it would hand every client's lines
// to whichever caller came first. The command decides (cmd/streamcart).
package redisclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterScheme is the scheme of a Redis Cluster's URL:
//
//	redis+cluster://[user:password@]host:port[,host:port...][/]
//
// The hosts are seeds: any reachable one tells the client the rest of the
// cluster. A cluster has database 0 only, so the path is empty or "/"
// (or "/0"); there are no query options.
const ClusterScheme = "redis+cluster"

// Timeouts of every client Open returns.
const (
	dialTimeout  = 2 * time.Second
	readTimeout  = 3 * time.Second
	writeTimeout = 3 * time.Second
	// Requests fail fast while Redis is down instead of queueing.
	poolTimeout = 4 * time.Second
)

// IsClusterURL reports whether rawURL is a Redis Cluster's URL (ClusterScheme).
func IsClusterURL(rawURL string) bool {
	return strings.HasPrefix(rawURL, ClusterScheme+"://")
}

// ParseClusterURL parses a URL of ClusterScheme into the options of a
// cluster client, with Open's timeouts.
func ParseClusterURL(rawURL string) (*redis.ClusterOptions, error) {
	rest, ok := strings.CutPrefix(rawURL, ClusterScheme+"://")
	if !ok {
		scheme, _, _ := strings.Cut(rawURL, ":")
		return nil, fmt.Errorf("redis cluster url: scheme %q is not %s", scheme, ClusterScheme)
	}
	// net/url takes one host; the seeds are parsed here, the rest by
	// net/url with the first seed standing for them.
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	userinfo, hosts, ok := strings.Cut(rest[:end], "@")
	if !ok {
		userinfo, hosts = "", userinfo
	} else {
		userinfo += "@"
	}
	seeds := strings.Split(hosts, ",")
	u, err := url.Parse(ClusterScheme + "://" + userinfo + "seed" + rest[end:])
	if err != nil {
		return nil, fmt.Errorf("redis cluster url: %w", err)
	}
	if hosts == "" {
		return nil, errors.New("redis cluster url: no host:port; want " + ClusterScheme + "://[user:password@]host:port[,host:port...]/")
	}
	if p := strings.TrimPrefix(u.Path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("redis cluster url: path %q: a cluster has database 0 only", u.Path)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("redis cluster url: query options are not supported")
	}
	opt := &redis.ClusterOptions{
		DialTimeout:  dialTimeout,
		ReadTimeout:  readTimeout,
		WriteTimeout: writeTimeout,
		PoolTimeout:  poolTimeout,
		// While a primary fails over, commands for its slots get
		// CLUSTERDOWN, TRYAGAIN or a refused connection until a replica
		// is promoted (cluster-node-timeout and an election, a few
		// seconds); go-redis retries them on the new map meanwhile.
		MaxRedirects: 8,
		// One dial per attempt: a dead primary refuses at once, and
		// go-redis's five dials with backoff per attempt would keep a
		// command on it for seconds after its replica took over.
		DialerRetries: 1,
	}
	for _, addr := range seeds {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("redis cluster url: %q is not host:port", addr)
		}
		opt.Addrs = append(opt.Addrs, addr)
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	return opt, nil
}

// Option adjusts the client that Open returns.
type Option func(*options)

type options struct {
	blockingReaders int
}

// BlockingReaders makes room in the client's pool for n stream readers
// (stream.Consumer, one per stream partition and consumer group), each of
// which holds a connection of the pool for as long as it runs, blocked in
// XREADGROUP: the pool (each node's, on a cluster) gets n connections
// more than go-redis's default (10 per CPU), so that the readers never
// leave the other commands waiting for one. The pool opens connections
// only as they are needed.
func BlockingReaders(n int) Option {
	return func(o *options) { o.blockingReaders += max(n, 0) }
}

// poolSize returns the pool size for o, given the one a URL asked for
// (0: none).
func (o options) poolSize(asked int) int {
	return max(asked, 10*runtime.GOMAXPROCS(0)) + o.blockingReaders
}

// Open returns a client for rawURL once Redis answers, waiting at most
// 10s: a *redis.Client for a redis:// or rediss:// URL
// ("redis://127.0.0.1:6379/0"), a *redis.ClusterClient for a
// ClusterScheme URL, which is ready when every primary answers PING.
func Open(ctx context.Context, rawURL string, opts ...Option) (redis.UniversalClient, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	rdb, err := newClient(rawURL, o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ping := Ping(rdb)
	for {
		err := ping(ctx)
		if err == nil {
			return rdb, nil
		}
		select {
		case <-ctx.Done():
			rdb.Close()
			return nil, fmt.Errorf("redis ping %s: %w", redact(rawURL), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func newClient(rawURL string, o options) (redis.UniversalClient, error) {
	if IsClusterURL(rawURL) {
		opt, err := ParseClusterURL(rawURL)
		if err != nil {
			return nil, err
		}
		opt.PoolSize = o.poolSize(opt.PoolSize)
		c := redis.NewClusterClient(opt)
		c.AddHook(reloadOnOutage{c})
		return c, nil
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url (redis://, rediss:// or %s://): %w", ClusterScheme, err)
	}
	opt.DialTimeout = dialTimeout
	opt.ReadTimeout = readTimeout
	opt.WriteTimeout = writeTimeout
	opt.PoolTimeout = poolTimeout
	opt.PoolSize = o.poolSize(opt.PoolSize)
	return redis.NewClient(opt), nil
}

// reloadOnOutage makes a cluster client read the slots' map again
// (asynchronously, at most every 200ms) after a command failed for an
// outage. Otherwise go-redis keeps sending a dead primary's slots to it
// until the map is a minute old, long after a replica took over; a reply
// of the new primary (MOVED) would correct it, but a dead node sends none.
type reloadOnOutage struct{ c *redis.ClusterClient }

func (h reloadOnOutage) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnOutage) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(ctx, err)
		return err
	}
}

func (h reloadOnOutage) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(ctx, err)
		return err
	}
}

func (h reloadOnOutage) check(ctx context.Context, err error) {
	if err != nil && IsUnavailable(err) && !errors.Is(err, redis.ErrClosed) {
		h.c.ReloadState(ctx)
	}
}

// redact returns rawURL without its password, for errors.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// Ping returns a readiness check of rdb: nil when PING answers, on a
// cluster when every primary the client knows answers (a slot whose
// primary is down fails it until a replica has taken over).
func Ping(rdb redis.UniversalClient) func(context.Context) error {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		return func(ctx context.Context) error {
			return c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
				return node.Ping(ctx).Err()
			})
		}
	}
	return func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
}

// IsUnavailable reports whether err means Redis could not be reached, the
// connection broke, or the server is not ready to serve (loading its data
// set after a restart; on a cluster, a slot without a primary while a
// replica takes over, or redirections that did not settle), as opposed to
// a problem with the command. Callers retry such errors later.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr),
		redis.IsLoadingError(err), redis.IsMasterDownError(err), redis.IsTryAgainError(err),
		redis.IsClusterDownError(err), redis.IsReadOnlyError(err):
		return true
	}
	if _, ok := redis.IsMovedError(err); ok {
		return true
	}
	if _, ok := redis.IsAskError(err); ok {
		return true
	}
	msg := err.Error()
	for _, prefix := range []string{"LOADING ", "MASTERDOWN ", "TRYAGAIN ", "CLUSTERDOWN ", "READONLY ", "MOVED ", "ASK "} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	// go-redis's own error for a cluster whose map it could not load.
	return strings.Contains(msg, "redis: cluster has no nodes")
}

// ScriptCall is one run of a script: its keys and arguments.
type ScriptCall struct {
	Keys []string
	Args []any
}

// RunScripts runs script once per call, in one pipeline: one round trip
// on a single Redis, one per node (in parallel) on a cluster, where each
// call's keys must share a slot but the calls need not. It sends EVALSHA
// and, if a node does not know the script (NOSCRIPT: restarted, or a
// replica promoted since), runs the pipeline once more with EVAL, which
// teaches it the script; callers' scripts must therefore be safe to run
// twice. The commands are returned in the order of calls, with the
// pipeline's error.
func RunScripts(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, calls []ScriptCall) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	for attempt := 0; ; attempt++ {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range calls {
				if attempt == 0 {
					cmds[i] = script.EvalSha(ctx, p, c.Keys, c.Args...)
				} else {
					cmds[i] = script.Eval(ctx, p, c.Keys, c.Args...)
				}
			}
			return nil
		})
		if err == nil || attempt > 0 || !anyNoScript(cmds) {
			return cmds, err
		}
	}
}

func anyNoScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if c != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}
