// Package redisclient opens go-redis clients the way every streamcart
// service wants them.
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
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Option adjusts the client that Open returns.
type Option func(*redis.Options)

// BlockingReaders makes room in the client's pool for n stream readers
// (stream.Consumer, one per stream partition and consumer group), each of
// which holds a connection of the pool for as long as it runs, blocked in
// XREADGROUP: the pool gets n connections more than go-redis's default
// (10 per CPU), so that the readers never leave the other commands
// waiting for one. The pool opens connections only as they are needed.
func BlockingReaders(n int) Option {
	return func(opt *redis.Options) {
		opt.PoolSize = max(opt.PoolSize, 10*runtime.GOMAXPROCS(0)) + max(n, 0)
	}
}

// Open returns a client for url ("redis://127.0.0.1:6379/0") once PING
// answers, waiting at most 10s.
func Open(ctx context.Context, url string, options ...Option) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	for _, o := range options {
		o(opt)
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	// Requests fail fast while Redis is down instead of queueing.
	opt.PoolTimeout = 4 * time.Second
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return rdb, nil
		}
		select {
		case <-ctx.Done():
			rdb.Close()
			return nil, fmt.Errorf("redis ping %s: %w", opt.Addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Ping returns a readiness check of rdb: nil when PING answers.
func Ping(rdb redis.UniversalClient) func(context.Context) error {
	return func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
}

// IsUnavailable reports whether err means Redis could not be reached, the
// connection broke, or the server is not ready to serve (loading its data
// set after a restart), as opposed to a problem with the command.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "LOADING ") || strings.HasPrefix(msg, "MASTERDOWN ") || strings.HasPrefix(msg, "TRYAGAIN ")
}
