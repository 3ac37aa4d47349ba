package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"streamcart/internal/money"
	"streamcart/internal/platform/web"
)

// statusError is an HTTP answer other than the one expected.
type statusError struct {
	status int
	// newSession: the gateway answered under a new session, not the one
	// whose token the request carried, which it no longer knows.
	newSession bool
}

func (e *statusError) Error() string { return fmt.Sprintf("http %d", e.status) }

// sessionCookie is the cookie in which the gateway hands out a session it
// starts (gateway.SessionCookie).
const sessionCookie = "sc_session"

// sessionGone reports whether err says that the session a request was sent
// with no longer exists, so that what it owns cannot be read: a 401, or a
// 404 under the new anonymous session that the gateway started instead.
func sessionGone(err error) bool {
	var se *statusError
	return errors.As(err, &se) && (se.status == http.StatusUnauthorized || se.status == http.StatusNotFound && se.newSession)
}

// startedNewSession reports whether resp hands out a session other than
// the one of token.
func startedNewSession(resp *http.Response, token string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" && c.Value != token {
			return true
		}
	}
	return false
}

// kindOf names an error for the report's error table.
func kindOf(err error) string {
	var se *statusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, errNoReady):
		return "events stream not ready"
	default:
		return "network"
	}
}

// do sends a request for a shopper's step and decodes a JSON answer with
// status want (0: any 2xx) into out, timing it.
func (r *run) do(ctx context.Context, step, method, path, token string, body, out any, want int) error {
	req, err := web.NewJSONRequest(ctx, method, r.cfg.Target+path, body)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	r.observeHTTP(step, time.Since(start))
	if err != nil {
		return err
	}
	if ok := resp.StatusCode == want || (want == 0 && resp.StatusCode/100 == 2); !ok {
		return &statusError{status: resp.StatusCode, newSession: token != "" && startedNewSession(resp, token)}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// ping checks that the target is up before the shoppers start.
func (r *run) ping(ctx context.Context) error {
	return web.Probe(ctx, r.client, r.cfg.Target+"/healthz")
}

func (r *run) openSession(ctx context.Context) (string, error) {
	var s struct {
		Auth string `json:"auth"`
	}
	if err := r.do(ctx, stepSession, http.MethodGet, "/api/v1/session", "", nil, &s, http.StatusOK); err != nil {
		return "", err
	}
	if s.Auth == "" {
		return "", errors.New("no session token")
	}
	return s.Auth, nil
}

// searchPage is how many results a shopper's search shows: a page of the
// storefront's dashboard.
const searchPage = 12

// product is what a shopper needs of a search result.
type product struct {
	ID         string
	PriceCents int64
}

type lineItem struct {
	ProductID  string `json:"productId"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"priceCents"`
}

func (r *run) searchProducts(ctx context.Context, token, q string) ([]product, error) {
	if r.cfg.API == "tutorial" {
		var res struct {
			Data []struct {
				ProductID string `json:"productId"`
				Data      struct {
					Price json.Number `json:"price"`
				} `json:"data"`
			} `json:"data"`
		}
		if err := r.do(ctx, stepSearch, http.MethodPost, "/products/getProductsByFilter", token,
			map[string]string{"productDisplayName": q}, &res, http.StatusOK); err != nil {
			return nil, err
		}
		out := make([]product, 0, len(res.Data))
		for _, p := range res.Data[:min(len(res.Data), searchPage)] {
			cents, err := money.Parse(p.Data.Price.String())
			if err != nil {
				return nil, err
			}
			out = append(out, product{ID: p.ProductID, PriceCents: cents})
		}
		return out, nil
	}
	var res struct {
		Products []struct {
			ID         string `json:"id"`
			PriceCents int64  `json:"priceCents"`
		} `json:"products"`
	}
	if err := r.do(ctx, stepSearch, http.MethodGet, "/api/v1/products?limit="+strconv.Itoa(searchPage)+"&q="+url.QueryEscape(q), token, nil, &res, http.StatusOK); err != nil {
		return nil, err
	}
	out := make([]product, len(res.Products))
	for i, p := range res.Products {
		out[i] = product{ID: p.ID, PriceCents: p.PriceCents}
	}
	return out, nil
}

func (r *run) placeOrder(ctx context.Context, token string, items []lineItem) (string, error) {
	if r.cfg.API == "tutorial" {
		type tutorialItem struct {
			ProductID    string      `json:"productId"`
			Qty          int         `json:"qty"`
			ProductPrice json.Number `json:"productPrice"`
		}
		body := struct {
			Products []tutorialItem `json:"products"`
		}{}
		for _, it := range items {
			body.Products = append(body.Products, tutorialItem{it.ProductID, it.Qty, json.Number(money.Format(it.PriceCents))})
		}
		var res struct {
			Data string `json:"data"`
		}
		if err := r.do(ctx, stepOrder, http.MethodPost, "/orders/createOrder", token, body, &res, 0); err != nil {
			return "", err
		}
		return res.Data, nil
	}
	var res struct {
		OrderID string `json:"orderId"`
	}
	if err := r.do(ctx, stepOrder, http.MethodPost, "/api/v1/orders", token, map[string]any{"items": items}, &res, http.StatusCreated); err != nil {
		return "", err
	}
	return res.OrderID, nil
}

// orderFinal asks whether an order has its payment outcome. An error for
// which sessionGone holds means that token can no longer read it.
func (r *run) orderFinal(ctx context.Context, token, orderID string) (bool, error) {
	var o struct {
		Status int `json:"status"`
	}
	if err := r.do(ctx, stepStatus, http.MethodGet, "/api/v1/orders/"+url.PathEscape(orderID), token, nil, &o, http.StatusOK); err != nil {
		return false, err
	}
	return o.Status == 4 || o.Status == -4, nil
}

var errNoReady = errors.New("order events stream sent no ready event")

// eventStream is a shopper's open Server-Sent Events connection.
type eventStream struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	final  map[string]bool
	signal chan struct{} // closed and replaced on each final order
	done   chan struct{}
}

// listen opens the shopper's order events and returns once the gateway
// says the subscription is live, so that no update can be missed.
func (r *run) listen(ctx context.Context, token string) (*eventStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.Target+"/api/v1/orders/events", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	// The client's Timeout would cut the stream: use the transport only.
	start := time.Now()
	resp, err := r.client.Transport.RoundTrip(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, &statusError{status: resp.StatusCode}
	}
	es := &eventStream{cancel: cancel, final: map[string]bool{}, signal: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan struct{})
	go es.read(resp.Body, ready)
	select {
	case <-ready:
		r.observeStep(stepEvents, time.Since(start))
		return es, nil
	case <-es.done:
		cancel()
		return nil, errNoReady
	case <-time.After(5 * time.Second):
		es.close()
		return nil, errNoReady
	}
}

// read parses the stream: "event: ready" first, then "event: order" whose
// data is the order's JSON.
func (es *eventStream) read(body io.ReadCloser, ready chan struct{}) {
	defer close(es.done)
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var event string
	readyOnce := sync.OnceFunc(func() { close(ready) })
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			if event == "ready" {
				readyOnce()
			}
		case strings.HasPrefix(line, "data:") && event == "order":
			var o struct {
				OrderID string `json:"orderId"`
				Status  int    `json:"status"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &o) == nil && (o.Status == 4 || o.Status == -4) {
				es.mu.Lock()
				es.final[o.OrderID] = true
				close(es.signal)
				es.signal = make(chan struct{})
				es.mu.Unlock()
			}
		case line == "":
			event = ""
		}
	}
}

// waitFinal reports whether orderID was seen final within timeout.
func (es *eventStream) waitFinal(orderID string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		es.mu.Lock()
		final, signal := es.final[orderID], es.signal
		es.mu.Unlock()
		if final {
			return true
		}
		select {
		case <-signal:
		case <-es.done:
			return false
		case <-deadline:
			return false
		}
	}
}

func (es *eventStream) close() {
	es.cancel()
	<-es.done
}
