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
	left := rateWindow - time.Duration(now.UnixNano()%int64(rateWindow))
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
