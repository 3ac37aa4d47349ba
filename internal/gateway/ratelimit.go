package gateway

import (
	"context"
	"net/http"
	"strconv"
	"streamcart/internal/platform/errs"
	"time"

	"github.com/redis/go-redis/v9"
)

// rateWindow is the length of a rate-limit window. Limits are per second.
const rateWindow = time.Second

// countHit queues the counting of one request by kind ("ip", "session"
// or "login") and id in the current window of the given length on pipe:
// INCR of the window's counter and an EXPIRE that outlives the window. It
// returns nil when limit disables counting. Windows follow this process's
// clock, so gateways with skewed clocks share counters only roughly.
func (g *Gateway) countHit(ctx context.Context, pipe redis.Pipeliner, kind, id string, limit int, now time.Time, window time.Duration) *redis.IntCmd {
	if limit <= 0 {
		return nil
	}
	key := g.rateKey(kind, id, now, window)
	hits := pipe.Incr(ctx, key)
	pipe.Expire(ctx, key, 2*window)
	return hits
}

// rateKey is the counter of requests by kind and id in the window of now.
func (g *Gateway) rateKey(kind, id string, now time.Time, window time.Duration) string {
	n := now.UnixNano() / int64(window)
	return g.cfg.KeyPrefix + "rl:" + kind + ":" + id + ":" + strconv.FormatInt(n, 10)
}

// over reports whether a counted request is beyond limit. A failed count
// is not (fail open).
func over(hits *redis.IntCmd, limit int) bool {
	return hits != nil && hits.Err() == nil && hits.Val() > int64(limit)
}

// rateLimited sets Retry-After to the seconds left in the window of the
// given length (rounded up) and returns the 429 error.
func rateLimited(w http.ResponseWriter, what string, now time.Time, window time.Duration) error {
	left := window - time.Duration(now.UnixNano()%int64(window))
	secs := int((left + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return errs.E(errs.KindRateLimited, "rate_limited",
		"too many requests from this %s; retry after %d s", what, secs)
}

// limitIP limits next to limit requests per client IP in windows of the
// given length, counted under kind. It fails open: when Redis cannot
// count, the request is served and a warning logged.
func (g *Gateway) limitIP(kind string, limit int, window time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		pipe := g.rdb.Pipeline()
		hits := g.countHit(r.Context(), pipe, kind, g.clientIP(r), limit, now, window)
		if _, err := pipe.Exec(r.Context()); err != nil {
			g.log.WarnContext(r.Context(), "rate limit unavailable; serving request", "path", r.URL.Path, "err", err)
		} else if over(hits, limit) {
			g.fail(w, r, rateLimited(w, "IP address", now, window))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withIPLimit limits a public route by client IP only (Config.RateLimitIP
// per second).
func (g *Gateway) withIPLimit(next http.Handler) http.Handler {
	if g.cfg.RateLimitIP <= 0 {
		return next
	}
	return g.limitIP("ip", g.cfg.RateLimitIP, rateWindow, next)
}

// DefaultLoginAttempts is how many sign-in attempts per minute LimitLogins
// allows one client IP.
const DefaultLoginAttempts = 10

// LimitLogins limits h, a sign-in form such as the operations page's, to
// perMinute requests per client IP (0: DefaultLoginAttempts) in fixed
// one-minute windows, so that a token cannot be guessed at speed. Mount
// the result for the form's route. Like the other limits it fails open.
func (g *Gateway) LimitLogins(perMinute int, h http.Handler) http.Handler {
	if perMinute <= 0 {
		perMinute = DefaultLoginAttempts
	}
	return g.limitIP("login", perMinute, time.Minute, h)
}
