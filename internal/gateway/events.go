package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/redisclient"
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

// errHubClosed means the gateway is not running (Run has not started or has
// returned); errHubNotLive that Redis has not confirmed its subscription.
var (
	errHubClosed  = errors.New("order updates are not being received")
	errHubNotLive = errors.New("order updates are not subscribed to yet")
)

// hub shares Redis Pub/Sub connections among all event streams of this
// gateway and hands each message to the open streams of its user.
//
// On a single Redis it subscribes once, to the pattern of every user's
// channel: opening or closing a stream costs no Redis command and waits
// on no other stream. The price is that every gateway receives every
// order update, a few small messages per order, and drops those nobody
// here listens to.
//
// On a Redis Cluster classic Pub/Sub would carry every update to every
// node over the cluster bus, so the history publishes with SPUBLISH
// (sharded Pub/Sub), which has no patterns: the hub SSUBSCRIBEs a user's
// channel when the first stream of the user opens here and SUNSUBSCRIBEs
// when the last closes, on one connection per slot of the channels (the
// node of that slot; go-redis reconnects to the slot's primary, after a
// failover too, and subscribes again). Only the first stream of a user
// waits for Redis, for its confirmation.
type hub struct {
	rdb     redis.UniversalClient
	log     *slog.Logger
	pattern string
	cluster bool

	// cmdMu orders the SSUBSCRIBE and SUNSUBSCRIBE of the cluster mode,
	// so that the state under mu and the commands sent agree; mu is not
	// held while a command is sent.
	cmdMu sync.Mutex
	mu    sync.Mutex // guards everything below
	ctx   context.Context
	ps    *redis.PubSub         // single Redis: the pattern's
	slots map[int]*redis.PubSub // cluster: one per slot of the channels
	// moving has the slots whose channels resubscribe is moving to a new
	// connection.
	moving map[int]bool
	subs   map[string]*channelSubs
	// pending counts, per channel, the SSUBSCRIBEs sent whose
	// confirmation has not come back.
	pending map[string]int
	// live is closed once Redis has confirmed the pattern subscription:
	// from then on every update published reaches the hub.
	live     chan struct{}
	liveOnce sync.Once
	running  bool
	wg       sync.WaitGroup
}

// channelSubs are the open streams of one channel.
type channelSubs struct {
	set map[*subscriber]struct{}
	// ready is closed once Redis has confirmed the channel's
	// SSUBSCRIBE (cluster); on a single Redis it is the hub's live.
	ready     chan struct{}
	readyOnce sync.Once
}

// subscriber is one open event stream.
type subscriber struct {
	msgs   chan string
	lagged chan struct{} // closed when the stream fell too far behind
	once   sync.Once
}

func newHub(rdb redis.UniversalClient, log *slog.Logger) *hub {
	return &hub{
		rdb:     rdb,
		log:     log,
		pattern: events.OrderUpdatesChannel("*"),
		cluster: redisclient.IsCluster(rdb),
		slots:   map[int]*redis.PubSub{},
		moving:  map[int]bool{},
		subs:    map[string]*channelSubs{},
		pending: map[string]int{},
		live:    make(chan struct{}),
	}
}

// start subscribes (single Redis) and starts handing out messages.
// go-redis reconnects and subscribes again on its own; messages published
// while it does are lost, as Pub/Sub promises nothing more.
func (h *hub) start(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ctx, h.running = ctx, true
	if h.cluster {
		h.liveOnce.Do(func() { close(h.live) })
		return
	}
	h.ps = h.rdb.PSubscribe(ctx, h.pattern)
	h.receive(h.ps)
}

// receive dispatches the messages of ps until it is closed. Called with
// mu held.
func (h *hub) receive(ps *redis.PubSub) {
	ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(256))
	h.wg.Go(func() {
		for m := range ch {
			switch m := m.(type) {
			case *redis.Subscription:
				h.confirmed(ps, m)
			case *redis.Message:
				h.dispatch(m)
			}
		}
	})
}

// confirmed notes Redis's confirmation of a subscription of ps, or of
// an unsubscription.
func (h *hub) confirmed(ps *redis.PubSub, m *redis.Subscription) {
	if !h.cluster {
		h.liveOnce.Do(func() { close(h.live) })
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.Kind == "sunsubscribe" {
		// Redis unsubscribes a slot's channels itself when its node stops
		// serving the slot (a planned failover, a resharding), and go-redis
		// does not follow: an unsubscription of a channel that has
		// streams, and no SSUBSCRIBE of ours after it, is that.
		if slot := redisclient.Slot(m.Channel); h.subs[m.Channel] != nil && h.pending[m.Channel] == 0 && h.running && !h.moving[slot] && h.slots[slot] == ps {
			h.moving[slot] = true
			h.wg.Go(func() { h.resubscribe(slot, ps) })
		}
		return
	}
	if m.Kind != "ssubscribe" {
		return
	}
	// Redis answers a connection's commands in order: once the last
	// SSUBSCRIBE sent is confirmed, the channel is subscribed. A
	// confirmation with none pending is go-redis subscribing again after
	// a reconnect.
	if n := h.pending[m.Channel]; n > 1 {
		h.pending[m.Channel] = n - 1
		return
	}
	delete(h.pending, m.Channel)
	if cs := h.subs[m.Channel]; cs != nil {
		cs.readyOnce.Do(func() { close(cs.ready) })
	}
}

func (h *hub) dispatch(m *redis.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.subs[m.Channel]
	if cs == nil {
		return
	}
	for s := range cs.set {
		select {
		case s.msgs <- m.Payload:
		default:
			s.once.Do(func() { close(s.lagged) })
		}
	}
}

// close ends the Pub/Sub connections and waits for the dispatchers.
func (h *hub) close() {
	h.cmdMu.Lock()
	h.mu.Lock()
	pss := []*redis.PubSub{h.ps}
	for _, ps := range h.slots {
		pss = append(pss, ps)
	}
	h.ps, h.slots, h.running = nil, map[int]*redis.PubSub{}, false
	h.mu.Unlock()
	h.cmdMu.Unlock() // a resubscribe in progress takes it to end
	for _, ps := range pss {
		if ps != nil {
			_ = ps.Close()
		}
	}
	h.wg.Wait()
}

// liveWait bounds how long a new stream waits for the hub's subscription,
// which only the first streams after a start (or, on a cluster, the first
// stream of a user) can have to.
const liveWait = 3 * time.Second

// subscribe registers a stream for channel. Once it returns, every message
// published to the channel reaches the stream.
func (h *hub) subscribe(ctx context.Context, channel string) (*subscriber, error) {
	h.mu.Lock()
	running := h.running
	h.mu.Unlock()
	if !running {
		return nil, errHubClosed
	}
	wait := h.live
	s := &subscriber{msgs: make(chan string, subscriberBuffer), lagged: make(chan struct{})}
	if h.cluster {
		cs, err := h.sadd(ctx, channel, s)
		if err != nil {
			return nil, err
		}
		wait = cs.ready
	}
	select {
	case <-wait:
	case <-ctx.Done():
		h.unsubscribe(channel, s)
		return nil, ctx.Err()
	case <-time.After(liveWait):
		h.unsubscribe(channel, s)
		return nil, errHubNotLive
	}
	if h.cluster {
		return s, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		return nil, errHubClosed
	}
	h.add(channel, s)
	return s, nil
}

// add registers s under channel and returns the channel's streams. Called
// with mu held.
func (h *hub) add(channel string, s *subscriber) *channelSubs {
	cs := h.subs[channel]
	if cs == nil {
		cs = &channelSubs{set: map[*subscriber]struct{}{}, ready: h.live}
		h.subs[channel] = cs
	}
	cs.set[s] = struct{}{}
	return cs
}

// sadd registers s on a cluster and, for the channel's first stream,
// sends its SSUBSCRIBE on the connection of the channel's slot.
func (h *hub) sadd(ctx context.Context, channel string, s *subscriber) (*channelSubs, error) {
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	h.mu.Lock()
	if !h.running {
		h.mu.Unlock()
		return nil, errHubClosed
	}
	first := h.subs[channel] == nil
	cs := h.add(channel, s)
	if first {
		cs.ready = make(chan struct{})
		h.pending[channel]++
	}
	slot := redisclient.Slot(channel)
	ps := h.slots[slot]
	hubCtx := h.ctx
	moving := h.moving[slot]
	h.mu.Unlock()
	if !first || moving { // resubscribe's next attempt takes the channel
		return cs, nil
	}
	if ps == nil {
		// The first channel of a slot picks the connection's node.
		ps = h.rdb.SSubscribe(hubCtx, channel)
		h.mu.Lock()
		h.slots[slot] = ps
		h.receive(ps)
		h.mu.Unlock()
	} else if err := ps.SSubscribe(ctx, channel); err != nil {
		// go-redis keeps the channel and subscribes again once it has
		// reconnected; the stream waits for that, up to liveWait.
		h.log.WarnContext(ctx, "could not subscribe to order updates yet", "channel", channel, "err", err)
	}
	return cs, nil
}

// resubscribeWait bounds how long resubscribe waits for the
// confirmations of one attempt, resubscribeRetry how long it waits for
// the client to learn the slot's new primary before the next attempt.
const (
	resubscribeWait  = 2 * time.Second
	resubscribeRetry = 250 * time.Millisecond
)

// resubscribe moves the channels of slot from old to a new connection, to
// the slot's primary as the client knows it, until Redis confirms every
// one of them there (an SSUBSCRIBE sent to a node that no longer serves
// the slot gets MOVED); it gives up when the hub stops.
func (h *hub) resubscribe(slot int, old *redis.PubSub) {
	_ = old.Close()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if cc, ok := h.rdb.(*redis.ClusterClient); ok {
				cc.ReloadState(h.ctx)
			}
			select {
			case <-h.ctx.Done():
				return
			case <-time.After(resubscribeRetry):
			}
		}
		if h.resubscribeOnce(slot) {
			return
		}
	}
}

// resubscribeOnce is an attempt of resubscribe; it reports whether it is
// done.
func (h *hub) resubscribeOnce(slot int) bool {
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	h.mu.Lock()
	var channels []string
	for ch := range h.subs {
		if redisclient.Slot(ch) == slot {
			channels = append(channels, ch)
		}
	}
	ctx := h.ctx
	if !h.running || len(channels) == 0 {
		delete(h.slots, slot)
		delete(h.moving, slot)
		h.mu.Unlock()
		return true
	}
	h.mu.Unlock()
	ps := h.rdb.SSubscribe(ctx, channels...)
	for confirmed := 0; confirmed < len(channels); {
		m, err := ps.ReceiveTimeout(ctx, resubscribeWait)
		if err != nil {
			h.log.WarnContext(ctx, "could not subscribe to order updates again; retrying", "slot", slot, "err", err)
			_ = ps.Close()
			return false
		}
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "ssubscribe" {
				confirmed++
				h.confirmed(ps, m)
			}
		case *redis.Message:
			h.dispatch(m)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		_ = ps.Close()
		return true
	}
	h.slots[slot] = ps
	delete(h.moving, slot)
	h.receive(ps)
	return true
}

// remove unregisters s and reports whether it was its channel's last
// stream. Called with mu held.
func (h *hub) remove(channel string, s *subscriber) bool {
	cs := h.subs[channel]
	if cs == nil {
		return false
	}
	delete(cs.set, s)
	if len(cs.set) > 0 {
		return false
	}
	delete(h.subs, channel)
	return true
}

// unsubscribe unregisters s; on a cluster the channel's last stream
// SUNSUBSCRIBEs it.
func (h *hub) unsubscribe(channel string, s *subscriber) {
	if !h.cluster {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.remove(channel, s)
		return
	}
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	h.mu.Lock()
	cs := h.subs[channel]
	last := h.remove(channel, s)
	if last && cs != nil {
		select {
		case <-cs.ready:
		default:
			// Never confirmed: its confirmation was lost with a
			// connection, and will not be counted.
			delete(h.pending, channel)
		}
	}
	ps := h.slots[redisclient.Slot(channel)]
	h.mu.Unlock()
	if !last || ps == nil {
		return
	}
	// The request's context may be done by now.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := ps.SUnsubscribe(ctx, channel); err != nil {
		h.log.WarnContext(ctx, "could not unsubscribe from order updates", "channel", channel, "err", err)
	}
}

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
// process's connection and memory; decision 31), and against
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
	channel := events.OrderUpdatesChannel(s.UserID)
	sub, err := g.hub.subscribe(ctx, channel)
	if err != nil {
		return errs.Unavailable(err, "order updates are unavailable; try again shortly")
	}
	defer g.hub.unsubscribe(channel, sub)

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
				g.log.WarnContext(ctx, "order update is not JSON; skipped", "channel", channel, "err", err)
				continue
			}
			buf.WriteString("\n\n")
		}
		if err := send(); err != nil {
			return nil
		}
	}
}
