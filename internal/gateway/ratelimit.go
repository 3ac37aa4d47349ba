package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/web"
)

// rateWindow is the length of a rate-limit window. Limits are per second.
const rateWindow = time.Second

// countHit queues the counting of one request by kind ("ip" or "session")
// and id in the current window on pipe: INCR of the window's counter and
// an EXPIRE that outlives the window. It returns nil when limit disables
// counting. Windows follow this process's clock, so gateways with skewed
// clocks share counters only roughly.
func (g *Gateway) countHit(ctx context.Context, pipe redis.Pipeliner, kind, id string, limit int, now time.Time) *redis.IntCmd {
	if limit <= 0 {
		return nil
	}
	key := g.rateKey(kind, id, now)
	hits := pipe.Incr(ctx, key)
	pipe.Expire(ctx, key, 2*rateWindow)
	return hits
}

// rateKey is the counter of requests by kind ("ip" or "session") and id
// in the window of now.
func (g *Gateway) rateKey(kind, id string, now time.Time) string {
	return g.cfg.KeyPrefix + "rl:" + kind + ":" + id + ":" + strconv.FormatInt(now.Unix(), 10)
}

// over reports whether a counted request is beyond limit. A failed count
// is not (fail open).
func over(hits *redis.IntCmd, limit int) bool {
	return hits != nil && hits.Err() == nil && hits.Val() > int64(limit)
}

// rateLimited sets Retry-After to the seconds left in the window (rounded
// up) and returns the 429 error.
func (g *Gateway) rateLimited(w http.ResponseWriter, what string, now time.Time) error {
	return limitedFor(w, what, now, rateWindow)
}

// limitedFor is rateLimited for a window of the given length.
func limitedFor(w http.ResponseWriter, what string, now time.Time, window time.Duration) error {
	left := window - time.Duration(now.UnixNano()%int64(window))
	secs := int((left + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return web.Errorf(http.StatusTooManyRequests, "rate_limited",
		"too many requests from this %s; retry after %d s", what, secs)
}

// withIPLimit limits a public route by client IP only. It fails open: when
// Redis cannot count, the request is served and a warning logged.
func (g *Gateway) withIPLimit(next http.Handler) http.Handler {
	if g.cfg.RateLimitIP <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		pipe := g.rdb.Pipeline()
		hits := g.countHit(r.Context(), pipe, "ip", g.clientIP(r), g.cfg.RateLimitIP, now)
		if _, err := pipe.Exec(r.Context()); err != nil {
			g.log.WarnContext(r.Context(), "rate limit unavailable; serving request", "path", r.URL.Path, "err", err)
		} else if over(hits, g.cfg.RateLimitIP) {
			g.fail(w, r, g.rateLimited(w, "IP address", now))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// DefaultLoginAttempts is how many sign-in attempts per minute LimitLogins
// allows one client IP.
const DefaultLoginAttempts = 10

// loginWindow is the length of LimitLogins' windows.
const loginWindow = time.Minute

// LimitLogins limits h, a sign-in form such as the operations page's, to
// perMinute requests per client IP (0: DefaultLoginAttempts) in fixed
// one-minute windows, so that a token cannot be guessed at speed. Mount
// the result for the form's route. Like the other limits it fails open:
// when Redis cannot count, the request is served and a warning logged.
func (g *Gateway) LimitLogins(perMinute int, h http.Handler) http.Handler {
	if perMinute <= 0 {
		perMinute = DefaultLoginAttempts
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		key := g.cfg.KeyPrefix + "rl:login:" + g.clientIP(r) + ":" + strconv.FormatInt(now.Unix()/int64(loginWindow/time.Second), 10)
		pipe := g.rdb.TxPipeline()
		hits := pipe.Incr(r.Context(), key)
		pipe.Expire(r.Context(), key, 2*loginWindow)
		if _, err := pipe.Exec(r.Context()); err != nil {
			g.log.WarnContext(r.Context(), "login rate limit unavailable; serving request", "path", r.URL.Path, "err", err)
		} else if hits.Val() > int64(perMinute) {
			g.fail(w, r, limitedFor(w, "IP address", now, loginWindow))
			return
		}
		h.ServeHTTP(w, r)
	})
}
