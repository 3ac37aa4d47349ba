package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// revocations is this gateway's copy of the sessions revoked (logged out)
// on any gateway, so that a request's revocation check costs no Redis
// command (decision 32). A logout writes, besides the session's
// revocation key, an entry in a sorted set (session id scored by the time,
// ms, the revocation lapses) and then a message on a Pub/Sub channel of
// the same name: every gateway adds what the channel brings, and loads
// the whole set once Redis has confirmed its subscription, at start and
// after every reconnection. Until then, and whenever the subscription has
// not shown a sign of life (a message or an answer to its PING) for
// revocationStale, the copy is not trusted and requests ask Redis as
// before (sessionScript): a logout published while this gateway was not
// listening is in the set it loads next.
//
// The set is one key and the channel a classic one: a logout is rare, and
// on a Redis Cluster a classic PUBLISH reaches the subscribers of every
// node.
type revocations struct {
	rdb  redis.UniversalClient
	log  *slog.Logger
	name string // the sorted set's key and the channel's name

	mu sync.Mutex
	// lapse has each revoked session's id with the time (unix ms) its
	// revocation lapses; pruneAt is the size at which lapsed ones are
	// dropped.
	lapse   map[string]int64
	pruneAt int
	// live is set once the set is loaded after Redis confirmed the
	// subscription, and cleared when the connection fails; heard is the
	// last sign of life of the subscription.
	live  bool
	heard time.Time
}

// revocationPing is how often an idle subscription is pinged;
// revocationStale how old its last sign of life may be for the copy to be
// trusted; revocationRetry the wait after a failed connection.
const (
	revocationPing  = time.Second
	revocationStale = 3 * time.Second
	revocationRetry = 250 * time.Millisecond
)

// revocationPingPayload is the payload of the subscription's PINGs.
const revocationPingPayload = "revocations alive?"

func newRevocations(rdb redis.UniversalClient, log *slog.Logger, name string) *revocations {
	return &revocations{rdb: rdb, log: log, name: name, lapse: map[string]int64{}, pruneAt: 1024}
}

// check reports whether session id is revoked at now; known is false when
// the copy is not to be trusted, and Redis must be asked.
func (rv *revocations) check(id string, now time.Time) (revoked, known bool) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if !rv.live || now.Sub(rv.heard) > revocationStale {
		return false, false
	}
	return rv.lapse[id] > now.UnixMilli(), true
}

// add notes that session id is revoked until lapse (unix ms).
func (rv *revocations) add(id string, lapse int64) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.lapse[id] = max(rv.lapse[id], lapse)
	if len(rv.lapse) < rv.pruneAt {
		return
	}
	now := time.Now().UnixMilli()
	for k, v := range rv.lapse {
		if v <= now {
			delete(rv.lapse, k)
		}
	}
	rv.pruneAt = max(2*len(rv.lapse), 1024)
}

// revokedKey marks session id as logged out, for the gateways with
// Config.KeyPrefix prefix, until its last token has expired.
func revokedKey(prefix, id string) string { return prefix + "revoked:" + id }

// revocationsName is the name of the revocations' sorted set and channel
// of the gateways with Config.KeyPrefix prefix.
func revocationsName(prefix string) string { return prefix + "revocations" }

// revoke marks session id revoked until lapse, as a logout does, and notes
// it here: in one pipeline its revocation key (key), its entry in the set
// (dropping the lapsed ones) and whatever more adds; then, the set having
// the entry, so that a gateway that subscribes in between finds it there,
// it tells the other gateways.
func (rv *revocations) revoke(ctx context.Context, key, id string, lapse time.Time, more func(redis.Pipeliner)) error {
	pipe := rv.rdb.Pipeline()
	pipe.Set(ctx, key, "1", time.Until(lapse))
	pipe.ZAdd(ctx, rv.name, redis.Z{Score: float64(lapse.UnixMilli()), Member: id})
	pipe.ZRemRangeByScore(ctx, rv.name, "-inf", strconv.FormatInt(time.Now().UnixMilli(), 10))
	if more != nil {
		more(pipe)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	rv.add(id, lapse.UnixMilli())
	return rv.rdb.Publish(ctx, rv.name, id+" "+strconv.FormatInt(lapse.UnixMilli(), 10)).Err()
}

// Revoke revokes session id until lapse on the gateways with
// Config.KeyPrefix keyPrefix that share rdb, as a logout on one of them
// does: for tools and tests that act on a shop's Redis.
func Revoke(ctx context.Context, rdb redis.UniversalClient, keyPrefix, id string, lapse time.Time) error {
	rv := newRevocations(rdb, slog.New(slog.DiscardHandler), revocationsName(keyPrefix))
	return rv.revoke(ctx, revokedKey(keyPrefix, id), id, lapse, nil)
}

// down marks the copy as not to be trusted.
func (rv *revocations) down() {
	rv.mu.Lock()
	rv.live = false
	rv.mu.Unlock()
}

// alive notes a sign of life of the subscription.
func (rv *revocations) alive() {
	rv.mu.Lock()
	rv.heard = time.Now()
	rv.mu.Unlock()
}

// load adds the set's revocations that have not lapsed and, when it could
// read them, trusts the copy from now on.
func (rv *revocations) load(ctx context.Context) error {
	now := time.Now()
	zs, err := rv.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
		Key: rv.name, ByScore: true, Start: strconv.FormatInt(now.UnixMilli(), 10), Stop: "+inf",
	}).Result()
	if err != nil {
		return err
	}
	for _, z := range zs {
		if id, ok := z.Member.(string); ok {
			rv.add(id, int64(z.Score))
		}
	}
	rv.mu.Lock()
	rv.live, rv.heard = true, time.Now()
	rv.mu.Unlock()
	return nil
}

// run keeps the subscription until ctx is done. go-redis reconnects and
// subscribes again after a failed receive; each confirmation loads the
// set again.
func (rv *revocations) run(ctx context.Context) {
	ps := rv.rdb.Subscribe(ctx, rv.name)
	defer ps.Close()
	defer rv.down()
	subscribed, loaded := false, false
	for ctx.Err() == nil {
		if subscribed && !loaded {
			if err := rv.load(ctx); err != nil {
				rv.log.WarnContext(ctx, "could not load the session revocations; asking Redis for each request", "err", err)
			} else {
				loaded = true
			}
		}
		m, err := ps.ReceiveTimeout(ctx, revocationPing)
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			if err := ps.Ping(ctx, revocationPingPayload); err != nil {
				rv.down()
				subscribed, loaded = false, false
			}
			continue
		default:
			if ctx.Err() != nil {
				return
			}
			if subscribed { // once per outage
				rv.log.WarnContext(ctx, "the session revocations' subscription failed; asking Redis for each request until it is back", "err", err)
			}
			rv.down()
			subscribed, loaded = false, false
			select {
			case <-ctx.Done():
			case <-time.After(revocationRetry):
			}
			continue
		}
		rv.alive()
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				subscribed, loaded = true, false
			}
		case *redis.Message:
			id, lapse, ok := strings.Cut(m.Payload, " ")
			ms, err := strconv.ParseInt(lapse, 10, 64)
			if !ok || err != nil || id == "" {
				rv.log.WarnContext(ctx, "malformed session revocation message; ignored", "payload", m.Payload)
				continue
			}
			rv.add(id, ms)
		}
	}
}
