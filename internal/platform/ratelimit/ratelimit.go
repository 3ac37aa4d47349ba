// Package ratelimit counts requests in fixed windows in Redis, for abuse
// protection: INCR of the window's counter and an EXPIRE that outlives the
// window, queued on the caller's pipeline so that counting can share a
// round trip with other work. A window allows up to the limit; more gets
// 429 with Retry-After. Fixed windows may let through up to twice the
// limit across a window boundary, which is fine for abuse protection.
// Windows follow this process's clock, so processes with skewed clocks
// share counters only roughly.
package ratelimit

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// Limit is a number of requests allowed per window, counted under keys
// that start with Prefix. A Limit is a value; it is safe for concurrent
// use.
type Limit struct {
	// Prefix starts every counter key, e.g. "gateway:rl:ip:". The key adds
	// the counted id and the window's number.
	Prefix string
	// Max is the requests allowed per window; zero or less disables the
	// limit.
	Max int
	// Window is the length of a window, e.g. time.Second.
	Window time.Duration
}

// Enabled reports whether l limits anything.
func (l Limit) Enabled() bool { return l.Max > 0 && l.Window > 0 }

// Key is the counter of id in the window of now.
func (l Limit) Key(id string, now time.Time) string {
	n := now.UnixNano() / int64(l.Window)
	return l.Prefix + id + ":" + strconv.FormatInt(n, 10)
}

// Count queues the counting of one request by id on pipe and returns its
// count, to be read after the pipeline runs; nil when l is disabled.
func (l Limit) Count(ctx context.Context, pipe redis.Pipeliner, id string, now time.Time) *redis.IntCmd {
	if !l.Enabled() {
		return nil
	}
	key := l.Key(id, now)
	hits := pipe.Incr(ctx, key)
	pipe.Expire(ctx, key, 2*l.Window)
	return hits
}

// Over reports whether a request counted as hits is beyond l. A failed or
// absent count is not (fail open).
func (l Limit) Over(hits *redis.IntCmd) bool {
	return l.Enabled() && hits != nil && hits.Err() == nil && hits.Val() > int64(l.Max)
}

// Exceeded sets Retry-After to the seconds left in the window of now
// (rounded up) and returns the 429 error for a client, named by what
// ("IP address", "session").
func (l Limit) Exceeded(w http.ResponseWriter, what string, now time.Time) error {
	left := l.Window - time.Duration(now.UnixNano()%int64(l.Window))
	secs := int((left + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return errs.E(errs.KindRateLimited, "rate_limited",
		"too many requests from this %s; retry after %d s", what, secs)
}

// PerIP limits next by client address (web.ClientIP) to l. A request over
// the limit goes to fail with Exceeded's error instead. It fails open:
// when Redis cannot count, the request is served and a warning logged. A
// disabled l returns next.
func PerIP(rdb redis.UniversalClient, l Limit, log *slog.Logger, fail func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	if !l.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		pipe := rdb.Pipeline()
		hits := l.Count(r.Context(), pipe, web.ClientIP(r), now)
		if _, err := pipe.Exec(r.Context()); err != nil {
			log.WarnContext(r.Context(), "rate limit unavailable; serving request", "path", r.URL.Path, "err", err)
		} else if l.Over(hits) {
			fail(w, r, l.Exceeded(w, "IP address", now))
			return
		}
		next.ServeHTTP(w, r)
	})
}
