package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// eventStream is an open GET /api/v1/orders/events.
type eventStream struct {
	resp   *http.Response
	blocks chan string // each event block without its final blank line; closed at EOF
	cancel context.CancelFunc
}

func openEvents(t *testing.T, baseURL, token string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r, err := http.NewRequestWithContext(ctx, "GET", baseURL+"/api/v1/orders/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		cancel()
		t.Fatalf("open event stream: %v", err)
	}
	s := &eventStream{resp: resp, blocks: make(chan string, 64), cancel: cancel}
	go func() {
		defer close(s.blocks)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var block []string
		for sc.Scan() {
			if sc.Text() != "" {
				block = append(block, sc.Text())
				continue
			}
			s.blocks <- strings.Join(block, "\n")
			block = nil
		}
	}()
	t.Cleanup(cancel)
	return s
}

// next returns the next block that is not a keepalive comment.
func (s *eventStream) next(t *testing.T, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case b, ok := <-s.blocks:
			if !ok {
				t.Fatal("event stream ended")
			}
			if b == ": keepalive" {
				continue
			}
			return b
		case <-deadline:
			t.Fatalf("no event within %v", timeout)
		}
	}
}

func numSub(t *testing.T, e *env, channel string) int64 {
	n, err := e.rdb.PubSubNumSub(t.Context(), channel).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n[channel]
}

// sameBucket returns a user id other than userID whose order updates
// share its channel.
func sameBucket(t *testing.T, userID string) string {
	t.Helper()
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-neighbour-%d", userID, i)
		if events.OrderUpdateBucket(id) == events.OrderUpdateBucket(userID) {
			return id
		}
	}
}

// tokenOf returns a token of a new session of userID.
func (e *env) tokenOf(userID string) string {
	token, _ := e.gw.tokens.issue(userID, stream.NewID(), time.Now(), e.gw.cfg.SessionTTL)
	return token
}

// streamsOf returns how many open event streams of channel h holds.
func streamsOf(h *hub, channel string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cs := h.subs[channel]; cs != nil {
		return len(cs.set)
	}
	return 0
}

func TestOrderEvents(t *testing.T) {
	t.Parallel()
	e, token, userID := newShopper(t)
	channel := events.OrderUpdatesChannel(userID)

	s := openEvents(t, e.srv.URL, token)
	for h, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := s.resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if got := s.next(t, 5*time.Second); got != "retry: 3000\nevent: ready\ndata: {}" {
		t.Errorf("first block %q, want the retry and the ready event", got)
	}
	// A second stream of the same user gets the same updates. Neither
	// costs a Redis subscription of its own: the hub's pattern covers them.
	s2 := openEvents(t, e.srv.URL, token)
	s2.next(t, 5*time.Second)
	if n := streamsOf(e.gw.hub, channel); n != 2 {
		t.Errorf("the hub holds %d streams of the user, want 2", n)
	}
	if n := numSub(t, e, channel); n != 0 {
		t.Errorf("%d Redis subscriptions to the user's channel, want 0 (the hub's pattern covers it)", n)
	}

	ctx := t.Context()
	// Another user whose updates share the channel: a stream gets only
	// its own user's.
	neighbour := sameBucket(t, userID)
	if events.OrderUpdatesChannel(neighbour) != channel {
		t.Fatalf("%s and %s have different channels", neighbour, userID)
	}
	theirs := openEvents(t, e.srv.URL, e.tokenOf(neighbour))
	theirs.next(t, 5*time.Second)
	e.rdb.Publish(ctx, channel, "{\n  \"orderId\": \"o1\",\n  \"userId\": \""+userID+"\",\n  \"status\": 4\n}")
	e.rdb.Publish(ctx, channel, `{"orderId":"theirs","userId":"`+neighbour+`"}`)
	e.rdb.Publish(ctx, events.OrderUpdatesChannel("someone-else"), `{"orderId":"elsewhere","userId":"someone-else"}`)
	e.rdb.Publish(ctx, channel, "not json")
	e.rdb.Publish(ctx, channel, `{"orderId":"nobody's"}`)
	e.rdb.Publish(ctx, channel, `{"orderId":"o2","userId":"`+userID+`"}`)
	for _, st := range []*eventStream{s, s2} {
		if got, want := st.next(t, 5*time.Second), "event: order\ndata: {\"orderId\":\"o1\",\"userId\":\""+userID+"\",\"status\":4}"; got != want {
			t.Errorf("event %q, want %q", got, want)
		}
		// Other users' updates and the malformed ones are not relayed.
		if got, want := st.next(t, 5*time.Second), "event: order\ndata: {\"orderId\":\"o2\",\"userId\":\""+userID+"\"}"; got != want {
			t.Errorf("event %q, want %q", got, want)
		}
	}
	if got, want := theirs.next(t, 5*time.Second), "event: order\ndata: {\"orderId\":\"theirs\",\"userId\":\""+neighbour+"\"}"; got != want {
		t.Errorf("the other user's stream: event %q, want %q", got, want)
	}
	theirs.cancel()

	s.cancel()
	s2.cancel()
	testenv.WaitFor(t, 5*time.Second, "the streams to close after the clients left", func() bool { return streamsOf(e.gw.hub, channel) == 0 })
}

func TestOrderEventsEndOnShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	g := newGateway(t, e.rdb, e.signer, e.cfg)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	// Before Run, there are no order updates to relay.
	resp, body := do(t, srv, req{method: "GET", path: "/api/v1/orders/events", token: token})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("events before Run: %s %s, want 503", resp.Status, body)
	}

	ctx, stop := context.WithCancel(t.Context())
	ran := make(chan error)
	go func() { ran <- g.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "Run to start", func() bool {
		g.hub.mu.Lock()
		defer g.hub.mu.Unlock()
		return g.hub.running
	})
	if err := g.Run(ctx); err == nil {
		t.Errorf("a second Run returned nil, want an error")
	}
	s := openEvents(t, srv.URL, token)
	s.next(t, 5*time.Second)
	stop()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	select {
	case b, ok := <-s.blocks:
		for ok && b == ": keepalive" {
			b, ok = <-s.blocks
		}
		if ok {
			t.Errorf("got %q after shutdown, want the end of the stream", b)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the stream did not end on shutdown")
	}
}

// The stream outlives the server's read and write timeouts, as
// web.Serve's are 15s and 30s.
func TestOrderEventsOutliveServerTimeouts(t *testing.T) {
	t.Parallel()
	e, token, userID := newShopper(t)
	g := newGateway(t, e.rdb, e.signer, e.cfg)
	g.keepalive = 50 * time.Millisecond
	go g.Run(t.Context())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Handler(), ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	go srv.Serve(ln)
	// Shutdown waits for the stream's handler, which ends with Run.
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	testenv.WaitFor(t, 5*time.Second, "Run to start", func() bool {
		g.hub.mu.Lock()
		defer g.hub.mu.Unlock()
		return g.hub.running
	})
	s := openEvents(t, "http://"+ln.Addr().String(), token)
	s.next(t, 5*time.Second)
	start, keepalives := time.Now(), 0
	for time.Since(start) < 5*200*time.Millisecond {
		select {
		case b, ok := <-s.blocks:
			if !ok {
				t.Fatalf("stream ended after %v and %d keepalives", time.Since(start), keepalives)
			}
			if b == ": keepalive" {
				keepalives++
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no keepalive")
		}
	}
	if keepalives < 5 {
		t.Errorf("%d keepalives in %v at a 50ms interval", keepalives, time.Since(start))
	}
	channel := events.OrderUpdatesChannel(userID)
	e.rdb.Publish(t.Context(), channel, `{"orderId":"late","userId":"`+userID+`"}`)
	if got := s.next(t, 5*time.Second); got != "event: order\ndata: {\"orderId\":\"late\",\"userId\":\""+userID+"\"}" {
		t.Errorf("event %q after the server timeouts", got)
	}
}

// A session and a client address may hold only so many event streams at
// once; a stream that ends gives its slot back.
func TestOrderEventStreamsAreLimitedPerSessionAndAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.EventStreamsPerSession, c.EventStreamsPerIP = 2, 3 })
	a, _ := e.session()
	b, _ := e.session()
	c, _ := e.session()
	refused := func(token, what string) {
		t.Helper()
		resp, body := e.do(req{method: "GET", path: "/api/v1/orders/events", token: token})
		got := errorOf(t, body)
		if resp.StatusCode != http.StatusTooManyRequests || got.Code != "too_many_streams" || !strings.Contains(got.Message, what) {
			t.Fatalf("%s %s, want 429 too_many_streams naming the %s", resp.Status, body, what)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After on a refused stream")
		}
	}
	a1 := openEvents(t, e.srv.URL, a)
	a1.next(t, 5*time.Second)
	openEvents(t, e.srv.URL, a).next(t, 5*time.Second)
	refused(a, "session")
	openEvents(t, e.srv.URL, b).next(t, 5*time.Second)
	refused(c, "IP address")

	a1.cancel()
	testenv.WaitFor(t, 5*time.Second, "a closed stream to give its slot back", func() bool {
		return e.rdb.ZCard(t.Context(), e.gw.ipStreamSlots("127.0.0.1")).Val() == 2
	})
	if s := openEvents(t, e.srv.URL, c); s.resp.StatusCode != http.StatusOK {
		t.Errorf("a stream after one closed: %s, want 200", s.resp.Status)
	}
}

// A stream ends at its maximum age with a retry: hint, and the browser's
// EventSource reconnects, through the session and the limits again.
func TestOrderEventStreamEndsAtItsMaxAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.EventStreamMaxAge = 300 * time.Millisecond })
	token, _ := e.session()
	s := openEvents(t, e.srv.URL, token)
	s.next(t, 5*time.Second)
	if got, want := s.next(t, 5*time.Second), ": the stream reached its maximum age; reconnect\nretry: 1000"; got != want {
		t.Errorf("last block %q, want %q", got, want)
	}
	select {
	case b, ok := <-s.blocks:
		if ok {
			t.Errorf("got %q after the last block, want the end of the stream", b)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the stream did not end")
	}
	testenv.WaitFor(t, 5*time.Second, "the slot to be given back", func() bool {
		return e.rdb.ZCard(t.Context(), e.gw.ipStreamSlots("127.0.0.1")).Val() == 0
	})
}
