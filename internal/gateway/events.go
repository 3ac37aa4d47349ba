package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/platform/web"
)

// subscriberBuffer is how many updates a stream may fall behind before it
// is ended; the browser's EventSource then reconnects and the page reads
// the history.
const subscriberBuffer = 32

// errHubClosed means the gateway is not running (Run has not started or has
// returned).
var errHubClosed = errors.New("order updates are not being received")

// hub shares one Redis Pub/Sub connection among all event streams of this
// gateway: it SUBSCRIBEs to a user's channel while at least one of the
// user's streams is open and hands each message to those streams. One
// connection per gateway, not per browser tab, keeps Redis's connection
// count flat.
type hub struct {
	rdb *redis.Client
	log *slog.Logger

	// cmdMu orders SUBSCRIBE and UNSUBSCRIBE as the changes of subs that
	// call for them; mu guards subs and ps and is never held across I/O.
	cmdMu sync.Mutex
	mu    sync.Mutex
	ps    *redis.PubSub
	subs  map[string]map[*subscriber]struct{}
	wg    sync.WaitGroup
}

// subscriber is one open event stream.
type subscriber struct {
	msgs   chan string
	lagged chan struct{} // closed when the stream fell too far behind
	once   sync.Once
}

func newHub(rdb *redis.Client, log *slog.Logger) *hub {
	return &hub{rdb: rdb, log: log, subs: map[string]map[*subscriber]struct{}{}}
}

// start opens the Pub/Sub connection and starts handing out messages.
// go-redis reconnects and resubscribes on its own; messages published
// while it does are lost, as Pub/Sub promises nothing more.
func (h *hub) start(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ps = h.rdb.Subscribe(ctx)
	ch := h.ps.Channel(redis.WithChannelSize(256))
	h.wg.Go(func() {
		for m := range ch {
			h.dispatch(m)
		}
	})
}

func (h *hub) dispatch(m *redis.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[m.Channel] {
		select {
		case s.msgs <- m.Payload:
		default:
			s.once.Do(func() { close(s.lagged) })
		}
	}
}

// close ends the Pub/Sub connection and waits for the dispatcher.
func (h *hub) close() {
	h.cmdMu.Lock()
	h.mu.Lock()
	ps := h.ps
	h.ps = nil
	h.mu.Unlock()
	h.cmdMu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
	h.wg.Wait()
}

// subscribe registers a stream for channel, subscribing in Redis when it
// is the channel's first. Once it returns, every message published to the
// channel after Redis has read the SUBSCRIBE reaches the stream.
func (h *hub) subscribe(ctx context.Context, channel string) (*subscriber, error) {
	s := &subscriber{msgs: make(chan string, subscriberBuffer), lagged: make(chan struct{})}
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	h.mu.Lock()
	ps := h.ps
	if ps == nil {
		h.mu.Unlock()
		return nil, errHubClosed
	}
	set := h.subs[channel]
	if set == nil {
		set = map[*subscriber]struct{}{}
		h.subs[channel] = set
	}
	set[s] = struct{}{}
	first := len(set) == 1
	h.mu.Unlock()
	if first {
		if err := ps.Subscribe(ctx, channel); err != nil {
			h.remove(channel, s)
			_ = ps.Unsubscribe(context.WithoutCancel(ctx), channel) // forget it for reconnects
			return nil, fmt.Errorf("subscribe %s: %w", channel, err)
		}
	}
	return s, nil
}

// remove unregisters s and reports whether channel has no streams left.
func (h *hub) remove(channel string, s *subscriber) (last bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.subs[channel]
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, channel)
		return true
	}
	return false
}

// unsubscribe unregisters s, unsubscribing in Redis when it was the
// channel's last stream.
func (h *hub) unsubscribe(ctx context.Context, channel string, s *subscriber) {
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	last := h.remove(channel, s)
	h.mu.Lock()
	ps := h.ps
	h.mu.Unlock()
	if last && ps != nil {
		if err := ps.Unsubscribe(ctx, channel); err != nil {
			h.log.WarnContext(ctx, "unsubscribe from order updates failed", "channel", channel, "err", err)
		}
	}
}

// orderEvents serves GET /api/v1/orders/events: the shopper's order
// updates as Server-Sent Events, each "event: order" with the order's
// history record as data, and a comment every keepalive interval. It ends
// when the client goes away, the stream falls behind, or the gateway
// stops (Run returns).
func (g *Gateway) orderEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s := mustSession(ctx)
	channel := events.OrderUpdatesChannel(s.UserID)
	sub, err := g.hub.subscribe(ctx, channel)
	if err != nil {
		return web.Unavailable(err, "order updates are unavailable; try again shortly")
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		g.hub.unsubscribe(uctx, channel, sub)
	}()

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
	// order placed after it is seen. (Redis reads the SUBSCRIBE, written
	// above, before any later command of an order's flow.)
	buf.WriteString("retry: 3000\nevent: ready\ndata: {}\n\n")
	if err := send(); err != nil {
		return nil // the client went away
	}
	tick := time.NewTicker(g.keepalive)
	defer tick.Stop()
	for {
		select {
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
