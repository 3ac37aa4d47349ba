package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/ratelimit"
)

// rateWindow is the length of a rate-limit window. Limits are per second.
const rateWindow = time.Second

// ipLimit is Config.RateLimitIP per client address; its counters are
// KeyPrefix + "rl:ip:<address>:<window>".
func (g *Gateway) ipLimit() ratelimit.Limit {
	return ratelimit.Limit{Prefix: g.cfg.KeyPrefix + "rl:ip:", Max: g.cfg.RateLimitIP, Window: rateWindow}
}

// sessionLimit is Config.RateLimitSession per session, counted by session
// id (so that the renewed tokens of a session share its limit) in
// counters KeyPrefix + "rl:session:{<revocation key>}:<window>", in the
// revocation key's Redis Cluster slot; a legacy token's are
// KeyPrefix + "rl:session:{<its Redis session>}:<window>".
func (g *Gateway) sessionLimit() ratelimit.Limit {
	return ratelimit.Limit{Prefix: g.cfg.KeyPrefix + "rl:session:", Max: g.cfg.RateLimitSession, Window: rateWindow}
}

// withIPLimit limits a public route by client address only
// (Config.RateLimitIP per second). Like every limit it fails open.
func (g *Gateway) withIPLimit(next http.Handler) http.Handler {
	return ratelimit.PerIP(g.rdb, g.ipLimit(), g.log, g.fail, next)
}

// credits are the requests of session rate windows that this gateway took
// from the sessions' counters in Redis and has not spent yet (decision
// 31). A gateway takes a session's requests a chunk at a time (creditChunk
// of the window's limit, claimCredits) and spends them without asking
// Redis; what it does not spend lapses with the window. The counter in
// Redis counts every request handed out by any gateway, so a session never
// gets more than its limit in a window; one spread over gateways may get
// fewer, as one gateway's unspent credits are not another's.
type credits struct {
	mu     sync.Mutex
	window int64          // the window of left
	left   map[string]int // by session id
}

// take spends one of session id's credits in window and reports whether
// there was one.
func (c *credits) take(id string, window int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if window != c.window || c.left[id] == 0 {
		return false
	}
	c.left[id]--
	return true
}

// put gives session id n credits in window; those of earlier windows are
// dropped.
func (c *credits) put(id string, window int64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case window < c.window:
		return
	case window > c.window || c.left == nil:
		c.window, c.left = window, map[string]int{}
	}
	if n > 0 {
		c.left[id] += n
	}
}

// creditChunk is how many requests of a session's window a gateway takes
// at once: a quarter of the limit, rounded up. A session that several
// gateways serve within a second still gets most of its limit.
func creditChunk(limit int) int { return (limit + 3) / 4 }

// claimScript takes a chunk from a window's counter that exists already:
// KEYS[1] the counter, ARGV the chunk and the counter's TTL (ms), should
// the counter have lapsed since. It returns the counter after the claim.
var claimScript = redis.NewScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
`)

// claimRest finishes a claim of chunk requests of limit from a window's
// counter, key, whose first step, set, was a SET NX of the chunk (claimed
// when it made the counter). It returns how many requests it got (0: the
// window's limit is reached). A later claim of the window is a script of
// an INCRBY.
func claimRest(ctx context.Context, rdb redis.UniversalClient, set *redis.BoolCmd, key string, chunk, limit int, ttl time.Duration) (int, error) {
	if set.Val() {
		return chunk, nil
	}
	n, err := claimScript.Run(ctx, rdb, []string{key}, chunk, ttl.Milliseconds()).Int()
	if err != nil {
		return 0, err
	}
	return max(min(chunk, limit-(n-chunk)), 0), nil
}
