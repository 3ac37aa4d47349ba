// Package loadgen drives a running streamcart through its gateway the way
// shoppers do, and reports throughput, latencies and lost orders.
//
// Each virtual shopper opens a session, listens to its order events
// (Server-Sent Events), searches the catalog, places an order and waits
// until the order is final; with Config.OrdersPerSession above 1 it then
// searches and orders again in the same session. Shoppers arrive open-loop at a fixed rate: a
// slow system does not slow the arrivals down, so its latency shows instead
// of hiding (no coordinated omission). After the run, every order that was
// accepted but not seen final is polled until a deadline; those still not
// final are reported as lost or stuck. An order whose shopper's session is
// gone (Redis lost it, or it expired) can no longer be read: it is
// reported as unverifiable, neither final nor lost, for the system of
// record to settle.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a run.
type Config struct {
	// Target is the gateway's base URL, e.g. http://127.0.0.1:8080.
	Target string
	// Rate is how many orders per second shoppers start: shoppers arrive
	// at Rate/OrdersPerSession per second.
	Rate float64
	// OrdersPerSession is how many orders each shopper places, one after
	// the other, each after the previous one is final, in one session
	// with one event stream. Default 1: every order is a new shopper, as
	// a first visit is the costliest.
	OrdersPerSession int
	// Duration is how long shoppers keep arriving.
	Duration time.Duration
	// Concurrency caps shoppers in flight; an arrival beyond it is counted
	// as an error ("concurrency limit") rather than delayed.
	Concurrency int
	// API is "v1" (/api/v1) or "tutorial" (the tutorial-compatible routes).
	API string
	// Settle is how long to wait after the run for accepted orders to
	// become final before counting them as lost or stuck.
	Settle time.Duration
	// WaitFinal is how long a shopper watches its order's events for the
	// final status before it leaves the order to the polls after the run.
	// Default 10s.
	WaitFinal time.Duration
	// Progress, if set, receives a status line every second.
	Progress io.Writer
}

func (c *Config) validate() error {
	switch {
	case c.Target == "":
		return errors.New("target is required")
	case c.Rate <= 0:
		return errors.New("rate must be positive")
	case c.Duration <= 0:
		return errors.New("duration must be positive")
	case c.Concurrency <= 0:
		return errors.New("concurrency must be positive")
	case c.OrdersPerSession < 0:
		return errors.New("orders per session must be positive")
	case c.API != "v1" && c.API != "tutorial":
		return fmt.Errorf("api %q: want v1 or tutorial", c.API)
	}
	return nil
}

// Report is the outcome of a run.
type Report struct {
	Target           string  `json:"target"`
	API              string  `json:"api"`
	DurationSeconds  float64 `json:"durationSeconds"`
	TargetRate       float64 `json:"targetRate"`
	OrdersPerSession int     `json:"ordersPerSession"`
	Started          int64   `json:"shoppersStarted"`
	Accepted         int64   `json:"ordersAccepted"`
	Final            int64   `json:"ordersFinal"`
	OrdersPerSecond  float64 `json:"ordersPerSecond"` // accepted orders / duration
	HTTP             Latency `json:"httpLatencyMs"`
	// Steps splits the latency by a shopper's steps (see StepNames).
	// "events" is the time until the order events stream said it was
	// ready; it is not among the HTTP figures.
	Steps        map[string]Latency `json:"stepLatencyMs"`
	OrderToFinal Latency            `json:"orderToFinalMs"`
	Errors       map[string]int     `json:"errors"`
	ErrorCount   int64              `json:"errorCount"`
	NotFinal     int64              `json:"notFinal"` // accepted but not final after Settle: lost or stuck
	// Unverifiable counts the accepted orders not seen final whose status
	// could not be read after the run because the shopper's session is
	// gone: the gateway answered 401, or 404 under a new anonymous
	// session. They may be final or lost; only the system of record can
	// tell. Final + NotFinal + Unverifiable = Accepted.
	Unverifiable int64 `json:"unverifiable"`
}

// The steps of a shopper's visit, as named in Report.Steps, in order.
const (
	stepSession = "session"
	stepEvents  = "events"
	stepSearch  = "search"
	stepOrder   = "order"
	stepStatus  = "status" // polling for orders not seen final, after the run
)

// StepNames lists the steps of Report.Steps in the order a shopper takes
// them.
var StepNames = []string{stepSession, stepEvents, stepSearch, stepOrder, stepStatus}

// Latency summarizes a set of durations in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	at := func(q float64) float64 { return ms(d[min(len(d)-1, int(q*float64(len(d))))]) }
	return Latency{Count: len(d), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ms(d[len(d)-1])}
}

// run is the state of one run.
type run struct {
	cfg    Config
	client *http.Client
	search []string

	inFlight atomic.Int64
	started  atomic.Int64
	accepted atomic.Int64
	final    atomic.Int64
	errCount atomic.Int64
	// unverifiable counts the orders whose session was gone when polled.
	unverifiable atomic.Int64

	mu        sync.Mutex
	http      []time.Duration
	steps     map[string][]time.Duration
	toFinal   []time.Duration
	errors    map[string]int
	unsettled []placed // accepted, final not seen
}

// placed is an accepted order the shopper did not see become final.
type placed struct {
	orderID string
	token   string
	created time.Time
}

// Run runs the load described by cfg and returns its report. It returns
// an error only for a bad configuration or an unreachable target.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 30 * time.Second
	}
	if cfg.WaitFinal <= 0 {
		cfg.WaitFinal = 10 * time.Second
	}
	if cfg.OrdersPerSession == 0 {
		cfg.OrdersPerSession = 1
	}
	r := &run{
		cfg: cfg,
		client: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        4 * cfg.Concurrency,
				MaxIdleConnsPerHost: 4 * cfg.Concurrency,
				IdleConnTimeout:     time.Minute,
			},
		},
		search: []string{"shirt", "shoes", "watch", "bag", "jeans", "puma", "nike", "black", "blue", ""},
		errors: map[string]int{},
		steps:  map[string][]time.Duration{},
	}
	if err := r.ping(ctx); err != nil {
		return Report{}, fmt.Errorf("target %s: %w", cfg.Target, err)
	}

	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	stopProgress := r.progress(runCtx)
	start := time.Now()
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) * float64(cfg.OrdersPerSession) / cfg.Rate)
	next := start
	for runCtx.Err() == nil {
		// Arrivals follow the clock, not the responses: open loop.
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			select {
			case <-runCtx.Done():
			case <-time.After(d):
			}
			if runCtx.Err() != nil {
				break
			}
		}
		r.started.Add(1)
		if r.inFlight.Load() >= int64(cfg.Concurrency) {
			r.fail("concurrency limit")
			continue
		}
		r.inFlight.Add(1)
		wg.Go(func() {
			defer r.inFlight.Add(-1)
			r.shop(ctx)
		})
	}
	elapsed := time.Since(start)
	wg.Wait()
	stopProgress()
	r.settle(ctx)

	rep := Report{
		Target:           cfg.Target,
		API:              cfg.API,
		DurationSeconds:  elapsed.Seconds(),
		TargetRate:       cfg.Rate,
		OrdersPerSession: cfg.OrdersPerSession,
		Started:          r.started.Load(),
		Accepted:         r.accepted.Load(),
		Final:            r.final.Load(),
		OrdersPerSecond:  float64(r.accepted.Load()) / elapsed.Seconds(),
		Errors:           r.errors,
		ErrorCount:       r.errCount.Load(),
		NotFinal:         int64(len(r.unsettled)),
		Unverifiable:     r.unverifiable.Load(),
	}
	rep.HTTP = summarize(r.http)
	rep.Steps = make(map[string]Latency, len(r.steps))
	for step, d := range r.steps {
		rep.Steps[step] = summarize(d)
	}
	rep.OrderToFinal = summarize(r.toFinal)
	return rep, nil
}

func (r *run) fail(kind string) {
	r.errCount.Add(1)
	r.mu.Lock()
	r.errors[kind]++
	r.mu.Unlock()
}

// observeHTTP records the latency of an HTTP request of step.
func (r *run) observeHTTP(step string, d time.Duration) {
	r.mu.Lock()
	r.http = append(r.http, d)
	r.steps[step] = append(r.steps[step], d)
	r.mu.Unlock()
}

// observeStep records the latency of a step that is not an HTTP exchange.
func (r *run) observeStep(step string, d time.Duration) {
	r.mu.Lock()
	r.steps[step] = append(r.steps[step], d)
	r.mu.Unlock()
}

// progress prints a status line every second until stopped.
func (r *run) progress(ctx context.Context) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				fmt.Fprintln(r.cfg.Progress)
				return
			case <-t.C:
			}
			acc := r.accepted.Load()
			fmt.Fprintf(r.cfg.Progress, "\r%6d orders/s  accepted %d  final %d  errors %d  in flight %d   ",
				acc-last, acc, r.final.Load(), r.errCount.Load(), r.inFlight.Load())
			last = acc
		}
	}()
	return func() { close(done); <-finished }
}

// shop is one shopper's visit: a session and its event stream, then
// OrdersPerSession orders, each placed once the previous one is final.
func (r *run) shop(ctx context.Context) {
	token, err := r.openSession(ctx)
	if err != nil {
		r.fail(kindOf(err))
		return
	}
	events, err := r.listen(ctx, token)
	if err != nil {
		r.fail(kindOf(err))
		return
	}
	defer events.close()
	for range r.cfg.OrdersPerSession {
		if !r.buy(ctx, token, events) {
			return
		}
	}
}

// buy searches, places an order and waits until it is final. It reports
// whether the shopper may go on: false after an error, or when the order
// was not seen final in time (it is then polled after the run).
func (r *run) buy(ctx context.Context, token string, events *eventStream) bool {
	products, err := r.searchProducts(ctx, token, r.search[rand.IntN(len(r.search))])
	if err != nil {
		r.fail(kindOf(err))
		return false
	}
	if len(products) == 0 {
		r.fail("search found nothing")
		return false
	}
	var items []lineItem
	for _, i := range rand.Perm(len(products))[:1+rand.IntN(min(3, len(products)))] {
		items = append(items, lineItem{ProductID: products[i].ID, Qty: 1 + rand.IntN(3), PriceCents: products[i].PriceCents})
	}
	orderID, err := r.placeOrder(ctx, token, items)
	if err != nil {
		r.fail(kindOf(err))
		return false
	}
	created := time.Now()
	r.accepted.Add(1)
	if events.waitFinal(orderID, r.cfg.WaitFinal) {
		r.final.Add(1)
		r.mu.Lock()
		r.toFinal = append(r.toFinal, time.Since(created))
		r.mu.Unlock()
		return true
	}
	r.mu.Lock()
	r.unsettled = append(r.unsettled, placed{orderID: orderID, token: token, created: created})
	r.mu.Unlock()
	return false
}

// settle polls the orders not seen final until they are or Settle passes.
// An order whose session is gone is set apart as unverifiable at once:
// polling it again would only start more anonymous sessions.
func (r *run) settle(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.Settle)
	for len(r.unsettled) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		left := r.unsettled[:0]
		for _, p := range r.unsettled {
			final, err := r.orderFinal(ctx, p.token, p.orderID)
			switch {
			case err == nil && final:
				r.final.Add(1)
				continue
			case sessionGone(err):
				r.unverifiable.Add(1)
				continue
			}
			left = append(left, p)
		}
		r.unsettled = left
		if len(left) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
}
