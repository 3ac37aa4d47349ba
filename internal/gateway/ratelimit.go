package gateway

import (
	"net/http"
	"time"

	"streamcart/internal/platform/ratelimit"
)

// rateWindow is the length of a rate-limit window. Limits are per second.
const rateWindow = time.Second

// ipLimit is Config.RateLimitIP per client address; its counters are
// KeyPrefix + "rl:ip:<address>:<window>".
func (g *Gateway) ipLimit() ratelimit.Limit {
	return ratelimit.Limit{Prefix: g.cfg.KeyPrefix + "rl:ip:", Max: g.cfg.RateLimitIP, Window: rateWindow}
}

// sessionLimit is Config.RateLimitSession per session; its counters are
// KeyPrefix + "rl:session:<token hash>:<window>".
func (g *Gateway) sessionLimit() ratelimit.Limit {
	return ratelimit.Limit{Prefix: g.cfg.KeyPrefix + "rl:session:", Max: g.cfg.RateLimitSession, Window: rateWindow}
}

// withIPLimit limits a public route by client address only
// (Config.RateLimitIP per second). Like every limit it fails open.
func (g *Gateway) withIPLimit(next http.Handler) http.Handler {
	return ratelimit.PerIP(g.rdb, g.ipLimit(), g.log, g.fail, next)
}

// DefaultLoginAttempts is how many sign-in attempts per minute LimitLogins
// allows one client address.
const DefaultLoginAttempts = 10

// LimitLogins limits h, a sign-in form such as the operations page's, to
// perMinute requests per client address (0: DefaultLoginAttempts) in fixed
// one-minute windows, so that a token cannot be guessed at speed. Like the
// other limits it fails open.
func (g *Gateway) LimitLogins(perMinute int, h http.Handler) http.Handler {
	if perMinute <= 0 {
		perMinute = DefaultLoginAttempts
	}
	l := ratelimit.Limit{Prefix: g.cfg.KeyPrefix + "rl:login:", Max: perMinute, Window: time.Minute}
	return ratelimit.PerIP(g.rdb, l, g.log, g.fail, h)
}
