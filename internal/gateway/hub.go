package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/platform/redisclient"
)

// errHubClosed means the gateway is not running (Run has not started or has
// returned); errHubNotLive that Redis has not confirmed its subscription.
var (
	errHubClosed  = errors.New("order updates are not being received")
	errHubNotLive = errors.New("order updates are not subscribed to yet")
)

// hub shares Redis Pub/Sub connections among all event streams of this
// gateway and hands each message to the open streams of its user. The
// updates come on a few channels, each the bucket of many users
// (events.OrderUpdatesChannel): the hub hands a message only to the
// streams of the user its record names (its "userId").
//
// On a single Redis it subscribes once, to the pattern of every bucket's
// channel: opening or closing a stream costs no Redis command and waits
// on no other stream. The price is that every gateway receives every
// order update, a few small messages per order, and drops those nobody
// here listens to.
//
// On a Redis Cluster classic Pub/Sub would carry every update to every
// node over the cluster bus, so the history publishes with SPUBLISH
// (sharded Pub/Sub), which has no patterns: the hub SSUBSCRIBEs a
// bucket's channel when the first stream of the bucket opens here, and
// SUNSUBSCRIBEs linger after the last one closed if no other opened, on
// one connection per slot of the channels (the node of that slot;
// go-redis reconnects to the slot's primary, after a failover too, and
// subscribes again). Only the first stream of a bucket waits for Redis,
// for its confirmation; under load every bucket stays subscribed, and a
// stream costs no command (decision 32).
type hub struct {
	rdb     redis.UniversalClient
	log     *slog.Logger
	pattern string
	cluster bool
	// channelOf is the updates channel of a user
	// (events.OrderUpdatesChannel; tests name their own).
	channelOf func(userID string) string
	// linger is how long a cluster's bucket stays subscribed after its
	// last stream closed.
	linger time.Duration

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
	// idle counts the times set became empty: a cluster's reap
	// unsubscribes only if it did not fill again since.
	idle int
	// ready is closed once Redis has confirmed the channel's
	// SSUBSCRIBE (cluster); on a single Redis it is the hub's live.
	ready     chan struct{}
	readyOnce sync.Once
}

// subscriber is one open event stream, of userID, on channel.
type subscriber struct {
	userID, channel string
	msgs            chan string
	lagged          chan struct{} // closed when the stream fell too far behind
	once            sync.Once
}

// bucketLinger is how long a cluster's bucket stays subscribed after its
// last stream closed.
const bucketLinger = time.Minute

func newHub(rdb redis.UniversalClient, log *slog.Logger) *hub {
	return &hub{
		rdb:       rdb,
		log:       log,
		pattern:   events.OrderUpdatesPrefix + "*",
		channelOf: events.OrderUpdatesChannel,
		linger:    bucketLinger,
		cluster:   redisclient.IsCluster(rdb),
		slots:     map[int]*redis.PubSub{},
		moving:    map[int]bool{},
		subs:      map[string]*channelSubs{},
		pending:   map[string]int{},
		live:      make(chan struct{}),
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

// dispatch hands m to the streams of the user its record names. A
// message that is not a record of a user has no stream to go to.
func (h *hub) dispatch(m *redis.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.subs[m.Channel]
	if cs == nil || len(cs.set) == 0 {
		return
	}
	var rec struct {
		UserID string `json:"userId"`
	}
	if err := json.Unmarshal([]byte(m.Payload), &rec); err != nil || rec.UserID == "" {
		h.log.Warn("order update without a user; dropped", "channel", m.Channel, "err", err)
		return
	}
	for s := range cs.set {
		if s.userID != rec.UserID {
			continue
		}
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
// stream of a bucket) can have to.
const liveWait = 3 * time.Second

// subscribe registers a stream of userID. Once it returns, every update
// of the user published reaches the stream.
func (h *hub) subscribe(ctx context.Context, userID string) (*subscriber, error) {
	h.mu.Lock()
	running := h.running
	h.mu.Unlock()
	if !running {
		return nil, errHubClosed
	}
	wait := h.live
	channel := h.channelOf(userID)
	s := &subscriber{userID: userID, channel: channel, msgs: make(chan string, subscriberBuffer), lagged: make(chan struct{})}
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
		h.unsubscribe(s)
		return nil, ctx.Err()
	case <-time.After(liveWait):
		h.unsubscribe(s)
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

// unsubscribe unregisters s. On a cluster its channel's last stream has
// the channel unsubscribed linger later, unless another stream came.
func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.subs[s.channel]
	if cs == nil {
		return
	}
	delete(cs.set, s)
	if len(cs.set) > 0 {
		return
	}
	if !h.cluster {
		delete(h.subs, s.channel)
		return
	}
	cs.idle++
	idle := cs.idle
	time.AfterFunc(h.linger, func() { h.reap(s.channel, idle) })
}

// reap SUNSUBSCRIBEs channel if it has had no stream since it became
// empty for the idle-th time.
func (h *hub) reap(channel string, idle int) {
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	h.mu.Lock()
	cs := h.subs[channel]
	if !h.running || cs == nil || len(cs.set) > 0 || cs.idle != idle {
		h.mu.Unlock()
		return
	}
	delete(h.subs, channel)
	select {
	case <-cs.ready:
	default:
		// Never confirmed: its confirmation was lost with a
		// connection, and will not be counted.
		delete(h.pending, channel)
	}
	ps := h.slots[redisclient.Slot(channel)]
	h.mu.Unlock()
	if ps == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := ps.SUnsubscribe(ctx, channel); err != nil {
		h.log.WarnContext(ctx, "could not unsubscribe from order updates", "channel", channel, "err", err)
	}
}
