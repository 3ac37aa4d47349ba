package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/errs"
	"streamcart/internal/stream"
)

// streamRetry is the reconnection delay an event stream asks of the
// browser when it reaches its maximum age; streamsFullRetry the
// Retry-After of a stream refused for the limits.
const (
	streamRetry      = time.Second
	streamsFullRetry = 5 * time.Second
)

// subscriberBuffer is how many updates a stream may fall behind before it
// is ended; the browser's EventSource then reconnects and the page reads
// the history.
const subscriberBuffer = 32

// streamSlotSlack is how long past its maximum age an open stream's slot
// of its client address is kept: a gateway that dies without releasing
// its slots frees them after EventStreamMaxAge plus this.
const streamSlotSlack = time.Minute

// streamSlotScript takes a slot for a new event stream in the client
// address's set, unless it is full. The set is a sorted set of stream ids
// scored by the time (ms) the slot lapses; the lapsed ones are dropped
// first.
//
// KEYS: the set. ARGV: the stream id, now, the slot's lapse time, the
// limit and the set's TTL (ms). It returns 0 when the slot is taken, 1
// when the set is full.
var streamSlotScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
`)

// ipStreamSlots returns the Redis key of the open event streams of a
// client address.
func (g *Gateway) ipStreamSlots(ip string) string { return g.cfg.KeyPrefix + "sse:ip:" + ip }

// streamCounts counts the open event streams of each session on this
// gateway.
type streamCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts a new stream of session id unless it has limit open.
func (c *streamCounts) take(id string, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[id] >= limit {
		return false
	}
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[id]++
	return true
}

// release counts the end of a stream of session id.
func (c *streamCounts) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[id]--; c.n[id] <= 0 {
		delete(c.n, id)
	}
}

// takeStreamSlot counts a new event stream against
// Config.EventStreamsPerSession, on this gateway (an open stream is this
// process's connection and memory; decision 32), and against
// EventStreamsPerIP, across every gateway on the Redis, and returns the
// function that gives the slots back. A full session or address is a 429.
func (g *Gateway) takeStreamSlot(ctx context.Context, s session) (release func(), err error) {
	perSession, perIP := max(g.cfg.EventStreamsPerSession, 0), max(g.cfg.EventStreamsPerIP, 0)
	if perSession > 0 && !g.streams.take(s.SessionID, perSession) {
		return nil, errs.E(errs.KindRateLimited, "too_many_streams", "at most %d order event streams may be open at once per session; close one first", perSession)
	}
	releaseSession := func() {
		if perSession > 0 {
			g.streams.release(s.SessionID)
		}
	}
	if perIP == 0 {
		return releaseSession, nil
	}
	key := g.ipStreamSlots(s.IP)
	id := stream.NewID()
	now := time.Now()
	ttl := g.cfg.EventStreamMaxAge + streamSlotSlack
	full, err := streamSlotScript.Run(ctx, g.rdb, []string{key}, id, now.UnixMilli(), now.Add(ttl).UnixMilli(), perIP, ttl.Milliseconds()).Int()
	switch {
	case err != nil:
		releaseSession()
		return nil, errs.Unavailable(fmt.Errorf("take event stream slot: %w", err), "order updates are unavailable; try again shortly")
	case full != 0:
		releaseSession()
		return nil, errs.E(errs.KindRateLimited, "too_many_streams", "at most %d order event streams may be open at once per IP address; close one first", perIP)
	}
	return func() {
		releaseSession()
		// The request's context is done by now.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := g.rdb.ZRem(ctx, key, id).Err(); err != nil {
			g.log.WarnContext(ctx, "could not give back an event stream slot; it lapses on its own", "err", err)
		}
	}, nil
}

// orderEvents serves GET /api/v1/orders/events: the shopper's order
// updates as Server-Sent Events, each "event: order" with the order's
// history record as data, and a comment every keepalive interval. It ends
// when the client goes away, the stream falls behind, the gateway stops
// (Run returns) or the stream reaches Config.EventStreamMaxAge; then it
// sends a retry: hint, and the browser's EventSource reconnects through
// the session and the limits again. A session or client address with as
// many streams open as its limit gets 429 (takeStreamSlot).
func (g *Gateway) orderEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s := mustSession(ctx)
	release, err := g.takeStreamSlot(ctx, s)
	if err != nil {
		if errs.KindOf(err) == errs.KindRateLimited {
			w.Header().Set("Retry-After", strconv.Itoa(int(streamsFullRetry/time.Second)))
		}
		return err
	}
	defer release()
	sub, err := g.hub.subscribe(ctx, s.UserID)
	if err != nil {
		return errs.Unavailable(err, "order updates are unavailable; try again shortly")
	}
	defer g.hub.unsubscribe(sub)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	send := func() error {
		// Each write gets a fresh deadline: the server's WriteTimeout
		// counts from the request's start.
		if err := rc.SetWriteDeadline(time.Now().Add(g.keepalive + 10*time.Second)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
		return rc.Flush()
	}
	// "ready" tells the client that updates from now on reach it: an
	// order placed after it is seen.
	buf.WriteString("retry: 3000\nevent: ready\ndata: {}\n\n")
	if err := send(); err != nil {
		return nil // the client went away
	}
	tick := time.NewTicker(g.keepalive)
	defer tick.Stop()
	end := time.NewTimer(g.cfg.EventStreamMaxAge)
	defer end.Stop()
	for {
		select {
		case <-end.C:
			fmt.Fprintf(&buf, ": the stream reached its maximum age; reconnect\nretry: %d\n\n", streamRetry.Milliseconds())
			_ = send()
			return nil
		case <-ctx.Done():
			return nil
		case <-g.done:
			return nil
		case <-sub.lagged:
			g.log.WarnContext(ctx, "order event stream fell behind; ending it", "user_id", s.UserID)
			return nil
		case <-tick.C:
			buf.WriteString(": keepalive\n\n")
		case payload := <-sub.msgs:
			buf.WriteString("event: order\ndata: ")
			if err := json.Compact(&buf, []byte(payload)); err != nil {
				buf.Reset()
				g.log.WarnContext(ctx, "order update is not JSON; skipped", "channel", sub.channel, "err", err)
				continue
			}
			buf.WriteString("\n\n")
		}
		if err := send(); err != nil {
			return nil
		}
	}
}
