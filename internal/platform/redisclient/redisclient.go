// Package redisclient opens go-redis clients the way every streamcart
// service wants them.
package redisclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

var setLogger sync.Once

// Open returns a client for url ("redis://127.0.0.1:6379/0") once PING
// answers, waiting at most 10s. go-redis's own log lines go to log at Debug
// level: the client reports the failures that matter as errors.
func Open(ctx context.Context, url string, log *slog.Logger) (*redis.Client, error) {
	setLogger.Do(func() { redis.SetLogger(slogAdapter{log}) })
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
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

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	a.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
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
