package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/web"
)

// DefaultOverdue is JourneyConfig.Overdue's default.
const DefaultOverdue = 30 * time.Second

// journeyTimeout bounds the questions of one journey, asked at once.
const journeyTimeout = 5 * time.Second

// JourneyConfig says where /ops asks about an order's journey
// (GET /ops/journey): each service that owns a step tells its own times
// over its API, asked as an operator (auth.RoleOperator); /ops reads no
// service's schema or keys.
type JourneyConfig struct {
	// OrdersURL, PaymentsURL and HistoryURL are the base URLs of the
	// orders, payments and order history services. All three, or none:
	// without them the page says that journeys are not set up.
	OrdersURL, PaymentsURL, HistoryURL string
	// Signer signs the page's calls as an operator. Required with the
	// URLs.
	Signer *auth.Signer
	// Overdue is how long a step may take after the step it follows
	// before the page calls it overdue. Default DefaultOverdue (30s).
	Overdue time.Duration
}

func (c JourneyConfig) enabled() bool { return c.OrdersURL != "" }

func (c JourneyConfig) validate() error {
	urls := map[string]string{"OrdersURL": c.OrdersURL, "PaymentsURL": c.PaymentsURL, "HistoryURL": c.HistoryURL}
	if !c.enabled() && c.PaymentsURL == "" && c.HistoryURL == "" {
		return nil
	}
	for name, u := range urls {
		if p, err := url.Parse(u); u == "" || err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
			return fmt.Errorf("ops config: Journey.%s %q is not an absolute http or https URL", name, u)
		}
	}
	if c.Signer == nil {
		return errors.New("ops config: Journey.Signer is required with the URLs")
	}
	if c.Overdue < 0 {
		return fmt.Errorf("ops config: Journey.Overdue %v is negative", c.Overdue)
	}
	return nil
}

// The states of a step of a journey.
const (
	// stepDone: the step happened, at Step.At.
	stepDone = "done"
	// stepPending: the step has not happened yet.
	stepPending = "pending"
	// stepOverdue: the step has not happened, and the step it follows
	// happened more than JourneyConfig.Overdue ago.
	stepOverdue = "overdue"
	// stepUnrecorded: the step happened, as later steps show, but its
	// owner did not record when (it happened before the owner did).
	stepUnrecorded = "not recorded"
	// stepUnavailable: the step's owner did not answer.
	stepUnavailable = "unavailable"
)

// journeySteps are the steps of every order's journey, in order, each
// with the index of the step it follows, its cause. Orders and the order
// history both read the payments stream, each at its own pace, so both
// follow the payment and either may come first.
var journeySteps = []struct {
	key, name, owner, what string
	after                  int
}{
	{"created", "Created", "orders", "orders stored the order and its OrderPlaced event", -1},
	{"published", "Published", "orders", "the outbox relay sent OrderPlaced to the orders stream", 0},
	{"paid", "Paid", "payments", "payments recorded the payment and its outcome", 1},
	{"status-applied", "Status applied", "orders", "orders applied the payment's outcome to the order", 2},
	{"history-updated", "History updated", "orderhistory", "the order history shows the final status", 2},
}

// Journey is an order's way through the system, as its owners tell it.
// The template "journey.html" draws it.
type Journey struct {
	OrderID string
	// Status is the order's status name, as orders has it.
	Status string
	Steps  []Step
	// Took is the time from the first step to the last, when every step
	// happened; zero otherwise.
	Took time.Duration
	// Asked is when the page asked.
	Asked time.Time
}

// Step is one step of a Journey.
type Step struct {
	Key, Name, Owner, What string
	// State is one of "done", "pending", "overdue", "not recorded",
	// "unavailable".
	State string
	// At is when the step happened, by its owner's clock; zero unless
	// State is "done".
	At time.Time
	// After names the step this one follows; "" for the first.
	After string
	// Took is the time from the step it follows to this one, when both
	// have a time.
	Took    time.Duration
	HasTook bool
	// Note says more: the outcome, how long a step waits, who did not
	// answer.
	Note string
}

// Done reports whether the step has a time.
func (s Step) Done() bool { return s.State == stepDone }

// Complete reports whether every step happened.
func (j Journey) Complete() bool {
	for _, s := range j.Steps {
		if !happened(s.State) {
			return false
		}
	}
	return true
}

// What the owners answer (their Journey types, and payments' payment).
type (
	ordersAnswer struct {
		Status          events.Status `json:"status"`
		StatusName      string        `json:"statusName"`
		CreatedAt       time.Time     `json:"createdAt"`
		PublishedAt     *time.Time    `json:"publishedAt"`
		StatusAppliedAt *time.Time    `json:"statusAppliedAt"`
	}
	paymentAnswer struct {
		StatusName string    `json:"statusName"`
		Reason     string    `json:"reason"`
		CreatedAt  time.Time `json:"createdAt"`
	}
	historyAnswer struct {
		Status     events.Status `json:"status"`
		StatusName string        `json:"statusName"`
		StatusAt   *time.Time    `json:"statusAt"`
	}
)

// answers are what the owners said of one order: nil for one that does
// not have it (yet); an error for one that did not answer.
type answers struct {
	orders              *ordersAnswer
	payment             *paymentAnswer
	history             *historyAnswer
	paymentErr, histErr error
}

// buildJourney puts the owners' answers together at now: a step whose
// cause happened more than overdue before now, and that has not, is
// overdue.
func buildJourney(orderID string, a answers, now time.Time, overdue time.Duration) Journey {
	o := a.orders
	j := Journey{OrderID: orderID, Status: o.StatusName, Asked: now}
	at := make([]*time.Time, len(journeySteps))
	notes := make([]string, len(journeySteps))
	unavailable := make([]error, len(journeySteps))
	at[0], at[1], at[3] = &o.CreatedAt, o.PublishedAt, o.StatusAppliedAt
	if o.StatusAppliedAt != nil {
		notes[3] = o.StatusName
	}
	switch p := a.payment; {
	case a.paymentErr != nil:
		unavailable[2] = a.paymentErr
	case p != nil:
		at[2], notes[2] = &p.CreatedAt, p.StatusName
		if p.Reason != "" {
			notes[2] += ": " + p.Reason
		}
	}
	switch h := a.history; {
	case a.histErr != nil:
		unavailable[4] = a.histErr
	case h != nil && h.Status.Final():
		at[4], notes[4] = h.StatusAt, h.StatusName
		if h.StatusAt == nil {
			at[4] = &time.Time{} // final, but taken before the history recorded when
		}
	}

	for i, def := range journeySteps {
		s := Step{Key: def.key, Name: def.name, Owner: def.owner, What: def.what, Note: notes[i]}
		if def.after >= 0 {
			s.After = journeySteps[def.after].name
		}
		switch {
		case unavailable[i] != nil:
			s.State, s.Note = stepUnavailable, def.owner+" did not answer: "+unavailable[i].Error()
		case at[i] != nil && at[i].IsZero(), at[i] == nil && laterDone(at, i):
			s.State = stepUnrecorded
		case at[i] != nil:
			s.State, s.At = stepDone, *at[i]
			if c := cause(at, i); c != nil {
				s.Took, s.HasTook = s.At.Sub(*c), true
			}
		case def.after >= 0 && !happened(j.Steps[def.after].State):
			s.State, s.Note = stepPending, "waits for "+s.After
		default:
			s.State = stepPending
			if c := cause(at, i); c != nil {
				waited := now.Sub(*c)
				s.Note = "waiting for " + roundDuration(waited).String()
				if waited > overdue {
					s.State = stepOverdue
					s.Note += fmt.Sprintf(", more than the %v a step may take", overdue)
				}
			}
		}
		j.Steps = append(j.Steps, s)
	}
	if j.Complete() {
		var last time.Time
		for _, t := range at {
			if t != nil && t.After(last) {
				last = *t
			}
		}
		j.Took = last.Sub(o.CreatedAt)
	}
	return j
}

// happened reports whether a step in state happened.
func happened(state string) bool { return state == stepDone || state == stepUnrecorded }

// cause returns the time of the nearest step before step i in its chain
// of causes that has one, or nil.
func cause(at []*time.Time, i int) *time.Time {
	for c := journeySteps[i].after; c >= 0; c = journeySteps[c].after {
		if at[c] != nil && !at[c].IsZero() {
			return at[c]
		}
	}
	return nil
}

// laterDone reports whether a step that follows step i, directly or not,
// has a time: then step i happened too.
func laterDone(at []*time.Time, i int) bool {
	for k := i + 1; k < len(journeySteps); k++ {
		for c := journeySteps[k].after; c >= 0; c = journeySteps[c].after {
			if c == i && at[k] != nil {
				return true
			}
		}
	}
	return false
}

// roundDuration rounds d for a person: to milliseconds under a second,
// to tenths of a second under a minute, else to seconds.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// journeyClient asks the owners of the steps about an order.
type journeyClient struct {
	cfg    JourneyConfig
	client *http.Client
}

// operatorID is the identity the page calls the services with.
var operatorID = auth.Identity{Role: auth.RoleOperator, UserID: "ops"}

// errNoSuchOrder: orders has no order of that id.
var errNoSuchOrder = errors.New("no such order")

// ask asks the three owners at once. The error is orders': without its
// answer there is no journey (errNoSuchOrder when it has no such order);
// the others' failures are in answers.
func (c *journeyClient) ask(ctx context.Context, orderID string) (answers, error) {
	ctx, cancel := context.WithTimeout(ctx, journeyTimeout)
	defer cancel()
	var (
		a        answers
		ordersOK bool
		err      error
		wg       sync.WaitGroup
	)
	a.orders, a.payment, a.history = &ordersAnswer{}, &paymentAnswer{}, &historyAnswer{}
	wg.Go(func() { ordersOK, err = c.get(ctx, c.cfg.OrdersURL+"/orders/"+orderID+"/journey", a.orders) })
	wg.Go(func() {
		if ok, err := c.get(ctx, c.cfg.PaymentsURL+"/payments/"+orderID, a.payment); err != nil || !ok {
			a.payment, a.paymentErr = nil, err
		}
	})
	wg.Go(func() {
		if ok, err := c.get(ctx, c.cfg.HistoryURL+"/history/"+orderID+"/journey", a.history); err != nil || !ok {
			a.history, a.histErr = nil, err
		}
	})
	wg.Wait()
	switch {
	case err != nil:
		return answers{}, fmt.Errorf("ask orders: %w", err)
	case !ordersOK:
		return answers{}, errNoSuchOrder
	}
	return a, nil
}

// get GETs u as an operator into v. found is false for a 404; any answer
// but 200 or 404 is an error that says what the service answered.
func (c *journeyClient) get(ctx context.Context, u string, v any) (found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set(auth.Header, c.cfg.Signer.Sign(operatorID))
	if id := web.RequestID(ctx); id != "" {
		req.Header.Set(web.RequestIDHeader, id)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return false, fmt.Errorf("read the answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.Unmarshal(raw, v); err != nil {
			return false, fmt.Errorf("decode the answer: %w", err)
		}
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("answered %s", resp.Status)
}

// journeyPage is the data of the template "journey.html".
type journeyPage struct {
	// OrderID is the id asked about, as entered.
	OrderID string
	// Journey is nil until an order was asked about and found.
	Journey *Journey
	Error   string
	// Enabled is false when journeys are not set up (JourneyConfig).
	Enabled bool
	// Overdue is JourneyConfig.Overdue.
	Overdue time.Duration
}

// journey serves GET /ops/journey?order=<id>: the order's journey, or
// only the form without an id. An id that is no id is 400, an order that
// orders does not have 404.
func (o *Ops) journey(w http.ResponseWriter, r *http.Request) error {
	if _, ok := o.operator(r); !ok {
		o.unauthorized(w, r, "")
		return nil
	}
	p := journeyPage{OrderID: r.URL.Query().Get("order"), Enabled: o.journeys != nil, Overdue: o.cfg.Journey.Overdue}
	status := http.StatusOK
	show := func() error {
		o.pages.RenderPage(w, r, status, "journey.html", "Order journey", nav, p)
		return nil
	}
	switch {
	case p.OrderID == "":
		return show()
	case !p.Enabled:
		status, p.Error = http.StatusServiceUnavailable, "Order journeys are not set up on this gateway: it needs the URLs of orders, payments and the order history."
		return show()
	case !web.ValidID(p.OrderID):
		// Not shown again: it may be anything.
		status, p.OrderID = http.StatusBadRequest, ""
		p.Error = fmt.Sprintf("That is not an order id: an order id is 1 to %d letters, digits, - or _.", web.MaxIDLen)
		return show()
	}
	a, err := o.journeys.ask(r.Context(), p.OrderID)
	switch {
	case errors.Is(err, errNoSuchOrder):
		status, p.Error = http.StatusNotFound, "No such order: the orders service has no order "+p.OrderID+"."
		return show()
	case err != nil:
		web.LogError(o.log, r, http.StatusServiceUnavailable, err)
		status, p.Error = http.StatusServiceUnavailable, "The orders service is not answering, so the journey cannot be shown. Try again in a moment."
		return show()
	}
	j := buildJourney(p.OrderID, a, time.Now(), o.cfg.Journey.Overdue)
	p.Journey = &j
	return show()
}
