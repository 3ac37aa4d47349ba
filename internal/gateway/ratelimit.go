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

// sessionLimit is Config.RateLimitSession per session. A signed token's
// session counts its windows in its state hash (stateKey, counted by
// session id, so that the renewed tokens of a session share its limit); a
// legacy token's in counters KeyPrefix + "rl:session:<its hash>:<window>".
func (g *Gateway) sessionLimit() ratelimit.Limit {
	return ratelimit.Limit{Prefix: g.cfg.KeyPrefix + "rl:session:", Max: g.cfg.RateLimitSession, Window: rateWindow}
}

// withIPLimit limits a public route by client address only
// (Config.RateLimitIP per second). Like every limit it fails open.
func (g *Gateway) withIPLimit(next http.Handler) http.Handler {
	return ratelimit.PerIP(g.rdb, g.ipLimit(), g.log, g.fail, next)
}
