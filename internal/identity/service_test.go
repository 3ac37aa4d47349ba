package identity_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/identity"
	"streamcart/internal/ordercheck"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Browser agents and addresses of the tests' shoppers.
const (
	firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	safari  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	chrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	home    = "203.0.113.7"
	office  = "198.51.100.9"
	cafe    = "192.0.2.44"
)

// env is one test's service setup: its database, the shared Redis and
// the orders that the orders service has (servicetest.Consumer), and the
// service's Config, with fresh stream names.
type env struct {
	servicetest.Consumer
	cfg identity.Config
}

// start runs a Service until the test ends.
func (e *env) start(t *testing.T) *identity.Service {
	return servicetest.Start(t, e.Consumer, identity.NewService, e.cfg)
}

// newEnv migrates a new database and names the test's streams.
func newEnv(t *testing.T) *env {
	t.Helper()
	c := servicetest.NewConsumer(t, testenv.Pool(t), identity.Migrate)
	return &env{Consumer: c, cfg: identity.Config{
		OrderKey: orderKey, Orders: c.Orders,
		OrdersStream: testenv.Name(t, "orders"), TransactionStream: testenv.Name(t, "tx"),
		ServiceConfig: outbox.ServiceConfig{Outbox: outbox.Config{Poll: 50 * time.Millisecond}},
	}}
}

// login returns the LoginIdentityRecorded of a session of user.
func login(user, userAgent, ip string) stream.Event {
	return events.LoginIdentityRecorded{UserID: user, SessionID: stream.NewID(), UserAgent: userAgent, IP: ip}.Event()
}

// orderKey signs the OrderPlaced events of these tests and checks them in
// the service, as the orders service's key does in a deployment.
var orderKey = servicetest.OrderKey()

// order returns the OrderPlaced of order id by user, created now.
func order(id, user, userAgent, ip string) events.OrderPlaced {
	return events.OrderPlaced{
		Order: events.Order{
			OrderID:     id,
			UserID:      user,
			AmountCents: 3999,
			Items:       []events.LineItem{{ProductID: "p-00001", Qty: 1, PriceCents: 3999}},
			CreatedOn:   time.Now(),
		},
		UserAgent: userAgent,
		IP:        ip,
	}
}

// logIn publishes a login of user with userAgent from ip and waits until
// the service has stored it, as user's one login identity.
func (e *env) logIn(t *testing.T, svc *identity.Service, user, userAgent, ip string) {
	t.Helper()
	e.Publish(t, e.cfg.TransactionStream, login(user, userAgent, ip))
	waitIdentities(t, svc, user, 1)
}

// waitIdentities waits until user has n login identities.
func waitIdentities(t *testing.T, svc *identity.Service, user string, n int) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d login identities of %s", n, user), func() bool {
		ids, err := svc.Identities(t.Context(), user)
		if err != nil {
			t.Fatalf("Identities(%s): %v", user, err)
		}
		return len(ids) == n
	})
}

// waitScore waits until order orderID has a score and returns it.
func waitScore(t *testing.T, svc *identity.Service, orderID string, timeout time.Duration) identity.Score {
	t.Helper()
	var sc identity.Score
	testenv.WaitFor(t, timeout, "the score of "+orderID, func() bool {
		var err error
		sc, err = svc.Score(t.Context(), orderID)
		if err != nil && !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("Score(%s): %v", orderID, err)
		}
		return err == nil
	})
	return sc
}

// drained waits until the service has acknowledged (or dead-lettered)
// every entry of streamName and relayed its outbox. Entries are
// acknowledged after their transaction commits, so an empty outbox
// afterwards means every announcement has been published.
func (e *env) drained(t *testing.T, streamName string) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, streamName+" handled and outbox relayed", func() bool {
		return testenv.Handled(t.Context(), e.Redis, identity.Group, streamName) && testenv.Empty(t.Context(), e.Pool, "identity.outbox")
	})
}

// announced returns the IdentityScored events on the transaction stream,
// in stream order.
func (e *env) announced(t *testing.T) []events.IdentityScored {
	t.Helper()
	var out []events.IdentityScored
	for _, m := range testenv.Entries(t, e.Redis, e.cfg.TransactionStream, stream.Decode) {
		if m.Type != events.TypeIdentityScored {
			continue
		}
		sc, err := events.ParseIdentityScored(m)
		if err != nil {
			t.Fatalf("transaction stream entry %s: %v", m.EntryID, err)
		}
		out = append(out, sc)
	}
	return out
}

// scoreRows returns how many scores order orderID has in the database.
func (e *env) scoreRows(t *testing.T, orderID string) int {
	t.Helper()
	var n int
	if err := e.Pool.QueryRow(t.Context(), "SELECT count(*) FROM identity.order_scores WHERE order_id = $1", orderID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitPutOff waits until the consumer has handled the order entry id and
// put it off at least once: the entry stays pending and a retry claims it
// back, which restarts its idle time (without counting a delivery).
func (e *env) waitPutOff(t *testing.T, id string) {
	t.Helper()
	var lastIdle time.Duration
	testenv.WaitFor(t, 5*time.Second, "the order put off", func() bool {
		p, err := e.Redis.XPendingExt(t.Context(), &redis.XPendingExtArgs{
			Stream: e.cfg.OrdersStream, Group: identity.Group, Start: id, End: id, Count: 1,
		}).Result()
		if err != nil || len(p) == 0 {
			return false
		}
		retried := p[0].Idle < lastIdle
		lastIdle = p[0].Idle
		return retried
	})
}

// announcement returns the IdentityScored that announces sc.
func announcement(sc identity.Score) events.IdentityScored {
	return events.IdentityScored{OrderID: sc.OrderID, UserID: sc.UserID, Score: sc.Value, PotentialFraud: sc.PotentialFraud}
}

var (
	ignoreScoredAt = cmpopts.IgnoreFields(identity.Score{}, "ScoredAt")
	byOrder        = cmpopts.SortSlices(func(a, b events.IdentityScored) bool { return a.OrderID < b.OrderID })
)

// TestScores logs shoppers in, waits until their identities are recorded,
// then scores one order of each.
func TestScores(t *testing.T) {
	t.Parallel()
	type device struct{ userAgent, ip string }
	tests := []struct {
		name     string
		logins   []device
		checkout device
		// wantIP is the checkout's address as stored, when it differs.
		wantIP    string
		wantScore float64
		wantFraud bool
	}{
		{name: "same agent and address", logins: []device{{firefox, home}}, checkout: device{firefox, home}, wantScore: 1},
		{name: "same agent, other address", logins: []device{{firefox, home}}, checkout: device{firefox, cafe}, wantScore: 0.5},
		{name: "other agent, same address", logins: []device{{firefox, home}}, checkout: device{chrome, home}, wantScore: 0.5},
		{name: "other agent and address", logins: []device{{firefox, home}}, checkout: device{chrome, cafe}, wantScore: 0, wantFraud: true},
		{name: "second of two devices", logins: []device{{firefox, home}, {safari, office}}, checkout: device{safari, office}, wantScore: 1},
		{name: "agent of one device, address of the other", logins: []device{{firefox, home}, {safari, office}}, checkout: device{safari, home}, wantScore: 1},
		{name: "same address spelled differently", logins: []device{{firefox, "::ffff:" + home}}, checkout: device{firefox, home + ":50123"}, wantIP: home, wantScore: 1},
		{name: "checkout without agent and address", logins: []device{{firefox, home}}, checkout: device{"", ""}, wantScore: 0, wantFraud: true},
	}
	e := newEnv(t)
	svc := e.start(t)
	const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for i, tt := range tests {
		user := fmt.Sprintf("u-%d", i)
		for _, d := range tt.logins {
			e.Publish(t, e.cfg.TransactionStream, login(user, d.userAgent, d.ip))
		}
		waitIdentities(t, svc, user, len(tt.logins))
	}
	var orders []stream.Event
	for i, tt := range tests {
		ev := order(fmt.Sprintf("o-%d", i), fmt.Sprintf("u-%d", i), tt.checkout.userAgent, tt.checkout.ip).Event(orderKey)
		ev.TraceParent = traceParent
		orders = append(orders, ev)
	}
	e.Publish(t, e.cfg.OrdersStream, orders...)
	e.drained(t, e.cfg.OrdersStream)

	var wantAnnounced []events.IdentityScored
	for i, tt := range tests {
		orderID, user := fmt.Sprintf("o-%d", i), fmt.Sprintf("u-%d", i)
		got, err := svc.Score(t.Context(), orderID)
		if err != nil {
			t.Fatalf("%s: Score(%s): %v", tt.name, orderID, err)
		}
		ip := tt.checkout.ip
		if tt.wantIP != "" {
			ip = tt.wantIP
		}
		want := identity.Score{
			OrderID: orderID, UserID: user, Value: tt.wantScore, PotentialFraud: tt.wantFraud,
			Fingerprint: identity.Fingerprint(tt.checkout.userAgent), IP: ip,
		}
		if diff := cmp.Diff(want, got, ignoreScoredAt); diff != "" {
			t.Errorf("%s: score (-want +got):\n%s", tt.name, diff)
		}
		wantAnnounced = append(wantAnnounced, announcement(want))
	}
	if diff := cmp.Diff(wantAnnounced, e.announced(t), byOrder); diff != "" {
		t.Errorf("IdentityScored events (-want +got):\n%s", diff)
	}
	servicetest.WantTraceParent(t, e.Redis, e.cfg.TransactionStream, events.TypeIdentityScored, traceParent)
	servicetest.WantNoDeadLetters(t, e.Redis, e.cfg.OrdersStream, e.cfg.TransactionStream)
}

// TestAnOrderThatOrdersDoesNotHaveIsDeadLetteredAndNeverScored publishes,
// in one batch with good orders, validly signed OrderPlaced events of an
// order that the orders service never stored and of a stored order with
// another amount or user than orders has: each is dead-lettered at once,
// saying why, and never scored (its IdentityScored would put it in the
// order history), while the good ones are.
func TestAnOrderThatOrdersDoesNotHaveIsDeadLetteredAndNeverScored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.start(t)
	e.Publish(t, e.cfg.TransactionStream, login("u-1", firefox, home), login("u-mallory", firefox, home))
	waitIdentities(t, svc, "u-1", 1)
	stored := order("o-2", "u-1", firefox, home)
	e.Orders.Add(stored)
	cheaper, stolen := stored, stored
	cheaper.AmountCents, cheaper.Items = 1999, []events.LineItem{{ProductID: "p-00001", Qty: 1, PriceCents: 1999}}
	stolen.UserID = "u-mallory"
	good := []stream.Event{order("o-1", "u-1", firefox, home).Event(orderKey), order("o-9", "u-1", firefox, home).Event(orderKey)}
	e.Orders.AddPublished(orderKey, good...)
	ids := e.PublishUnstored(t, e.cfg.OrdersStream, good[0],
		order("o-unknown", "u-1", firefox, home).Event(orderKey), cheaper.Event(orderKey), stolen.Event(orderKey), good[1])
	e.drained(t, e.cfg.OrdersStream)

	want := map[string]string{ // entry id -> the start of why it was refused
		ids[1]: "order o-unknown: " + ordercheck.ErrUnknown.Error(),
		ids[2]: "order o-2: " + ordercheck.ErrMismatch.Error(),
		ids[3]: "order o-2: " + ordercheck.ErrMismatch.Error(),
	}
	got := map[string]string{}
	for _, d := range servicetest.DeadLetters(t, e.Redis, e.cfg.OrdersStream) {
		_, why, _ := strings.Cut(d.Error, ": ")
		got[d.OriginID] = why[:min(len(why), len(want[d.OriginID]))]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dead letters, by entry (-want +got):\n%s", diff)
	}
	for order, n := range map[string]int{"o-1": 1, "o-9": 1, "o-unknown": 0, "o-2": 0} {
		if got := e.scoreRows(t, order); got != n {
			t.Errorf("order %s has %d scores, want %d", order, got, n)
		}
	}
}

// TestOrderBeforeLogin delivers an order before its session's login
// identity, the shopper's first: the order waits for it, within the grace.
func TestOrderBeforeLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.start(t)
	o := order("o-1", "u-1", firefox, home)
	id := e.Publish(t, e.cfg.OrdersStream, o.Event(orderKey))[0]
	e.waitPutOff(t, id)
	if _, err := svc.Score(t.Context(), "o-1"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("Score(o-1) before the login = %v, want ErrNotFound", err)
	}
	e.Publish(t, e.cfg.TransactionStream, login("u-1", firefox, home))
	got := waitScore(t, svc, "o-1", 10*time.Second)
	want := identity.Score{OrderID: "o-1", UserID: "u-1", Value: 1, Fingerprint: identity.Fingerprint(firefox), IP: home}
	if diff := cmp.Diff(want, got, ignoreScoredAt); diff != "" {
		t.Errorf("score (-want +got):\n%s", diff)
	}
	if age := got.ScoredAt.Sub(o.CreatedOn); age >= identity.DefaultGrace {
		t.Errorf("order scored %v after its creation, want within the grace of %v", age, identity.DefaultGrace)
	}
	e.drained(t, e.cfg.OrdersStream)
	if diff := cmp.Diff([]events.IdentityScored{announcement(want)}, e.announced(t)); diff != "" {
		t.Errorf("IdentityScored events (-want +got):\n%s", diff)
	}
	servicetest.WantNoDeadLetters(t, e.Redis, e.cfg.OrdersStream)
}

// TestNoLoginAfterGrace scores an order whose user never logs in, once the
// grace is over, and checks that an order of another user in the same
// batch, who has logged in, does not wait for it.
func TestNoLoginAfterGrace(t *testing.T) {
	t.Parallel()
	const grace = 500 * time.Millisecond
	e := newEnv(t)
	e.cfg.Grace = grace
	svc := e.start(t)
	e.logIn(t, svc, "u-known", firefox, home)
	stranger, known := order("o-stranger", "u-stranger", firefox, home), order("o-known", "u-known", firefox, home)
	e.Publish(t, e.cfg.OrdersStream, stranger.Event(orderKey), known.Event(orderKey))

	gotKnown := waitScore(t, svc, "o-known", 10*time.Second)
	if age := gotKnown.ScoredAt.Sub(known.CreatedOn); age >= grace {
		t.Errorf("o-known scored %v after its creation; want at once, not after the other order's grace of %v", age, grace)
	}
	gotStranger := waitScore(t, svc, "o-stranger", 10*time.Second)
	want := identity.Score{OrderID: "o-stranger", UserID: "u-stranger", Value: 0, PotentialFraud: true, Fingerprint: identity.Fingerprint(firefox), IP: home}
	if diff := cmp.Diff(want, gotStranger, ignoreScoredAt); diff != "" {
		t.Errorf("score of o-stranger (-want +got):\n%s", diff)
	}
	if age := gotStranger.ScoredAt.Sub(stranger.CreatedOn); age < grace {
		t.Errorf("o-stranger scored %v after its creation, before the grace of %v was over", age, grace)
	}
	// o-known's event was in the retried batch: it must still be announced
	// only once.
	e.drained(t, e.cfg.OrdersStream)
	wantAnnounced := []events.IdentityScored{announcement(gotKnown), announcement(gotStranger)}
	if diff := cmp.Diff(wantAnnounced, e.announced(t), byOrder); diff != "" {
		t.Errorf("IdentityScored events (-want +got):\n%s", diff)
	}
	servicetest.WantNoDeadLetters(t, e.Redis, e.cfg.OrdersStream)
}

// TestOneScorePerOrder delivers an order's OrderPlaced twice: the same
// event again (a redelivery), or a new event for the same order (the orders
// reconciler re-publishing it), in the same batch or a later one.
func TestOneScorePerOrder(t *testing.T) {
	t.Parallel()
	testenv.EachRepeat(t, func(t *testing.T, tt testenv.Repeat) {
		e := newEnv(t)
		svc := e.start(t)
		e.logIn(t, svc, "u-1", firefox, home)
		first := order("o-1", "u-1", firefox, home).Event(orderKey)
		first.ID = stream.NewID()
		second := first
		if !tt.SameEvent {
			// Another event id, and a checkout that would score 0: the
			// stored score must stand.
			second = order("o-1", "u-1", chrome, cafe).Event(orderKey)
		}
		if tt.SameBatch {
			e.Publish(t, e.cfg.OrdersStream, first, second)
		} else {
			e.Publish(t, e.cfg.OrdersStream, first)
			e.drained(t, e.cfg.OrdersStream)
			e.Publish(t, e.cfg.OrdersStream, second)
		}
		e.drained(t, e.cfg.OrdersStream)

		want := identity.Score{OrderID: "o-1", UserID: "u-1", Value: 1, Fingerprint: identity.Fingerprint(firefox), IP: home}
		got, err := svc.Score(t.Context(), "o-1")
		if err != nil {
			t.Fatalf("Score(o-1): %v", err)
		}
		if diff := cmp.Diff(want, got, ignoreScoredAt); diff != "" {
			t.Errorf("score (-want +got):\n%s", diff)
		}
		if n := e.scoreRows(t, "o-1"); n != 1 {
			t.Errorf("%d score rows for o-1, want 1", n)
		}
		var wantAnnounced []events.IdentityScored
		for range tt.Events() { // each event is answered with the one score
			wantAnnounced = append(wantAnnounced, announcement(want))
		}
		if diff := cmp.Diff(wantAnnounced, e.announced(t)); diff != "" {
			t.Errorf("IdentityScored events (-want +got):\n%s", diff)
		}
	})
}

// TestTransactionStream sends logins, malformed ones and events of other
// types in one batch: the logins are recorded, the malformed ones
// dead-lettered and the rest ignored.
func TestTransactionStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	noUser := login("u-1", firefox, home)
	delete(noUser.Fields, "userId")
	otherAction := login("u-1", firefox, home)
	otherAction.Fields["action"] = events.ActionCalculateIdentityScore
	first, again := login("u-1", firefox, home), login("u-1", firefox, home)
	first.Time = time.Now().Add(-time.Minute)
	evs := []stream.Event{
		first,
		noUser,
		events.IdentityScored{OrderID: "o-1", UserID: "u-1", Score: 1}.Event(),
		{Type: "SessionEnded", Fields: map[string]string{"userId": "u-1"}},
		otherAction,
		again,
		login("u-1", safari, office),
	}
	ids := e.Publish(t, e.cfg.TransactionStream, evs...)
	svc := e.start(t)
	e.drained(t, e.cfg.TransactionStream)

	got, err := svc.Identities(t.Context(), "u-1")
	if err != nil {
		t.Fatal(err)
	}
	// Event times went through the stream's RFC 3339 encoding and
	// PostgreSQL's microseconds.
	at := func(ev stream.Event) time.Time { return ev.Time.Truncate(time.Microsecond) }
	want := []identity.LoginIdentity{
		{UserID: "u-1", SessionID: evs[6].Fields["sessionId"], Fingerprint: identity.Fingerprint(safari), IP: office, FirstSeen: at(evs[6]), LastSeen: at(evs[6])},
		{UserID: "u-1", SessionID: again.Fields["sessionId"], Fingerprint: identity.Fingerprint(firefox), IP: home, FirstSeen: at(evs[0]), LastSeen: at(evs[5])},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
		t.Errorf("identities of u-1 (-want +got):\n%s", diff)
	}

	// A login older than all the others, delivered late, widens the
	// identity's first-seen time and leaves the rest alone.
	older := login("u-1", firefox, "::ffff:"+home)
	older.Time = time.Now().Add(-time.Hour)
	e.Publish(t, e.cfg.TransactionStream, older)
	e.drained(t, e.cfg.TransactionStream)
	want[1].FirstSeen = at(older)
	got, err = svc.Identities(t.Context(), "u-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
		t.Errorf("identities of u-1 after a late old login (-want +got):\n%s", diff)
	}

	dl := servicetest.DeadLetters(t, e.Redis, e.cfg.TransactionStream)
	var gotDead []string
	for _, d := range dl {
		gotDead = append(gotDead, d.OriginID)
	}
	if diff := cmp.Diff([]string{ids[1], ids[4]}, gotDead, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Fatalf("dead-lettered entries (-want +got):\n%s", diff)
	}
	for _, d := range dl {
		wantErr := map[string]string{ids[1]: "missing userId", ids[4]: "action is"}[d.OriginID]
		if !strings.Contains(d.Error, wantErr) {
			t.Errorf("dead letter of %s has error %q, want it to mention %q", d.OriginID, d.Error, wantErr)
		}
	}
}

// Login identities last seen longer ago than LoginRetention are deleted by
// the running service; younger ones stay.
func TestLoginIdentitiesPastRetentionAreDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfg.LoginRetention = time.Hour
	e.cfg.RetentionInterval = 50 * time.Millisecond
	now := time.Now()
	rows := []struct {
		user     string
		lastSeen time.Time
	}{
		{"old", now.Add(-2 * time.Hour)},
		{"older", now.Add(-100 * 24 * time.Hour)},
		{"young", now.Add(-10 * time.Minute)},
	}
	for _, r := range rows {
		if _, err := e.Pool.Exec(t.Context(), `INSERT INTO identity.login_identities (user_id, session_id, fingerprint, ip, first_seen, last_seen)
			VALUES ($1, 's', 'f', '192.0.2.1', $2, $2)`, r.user, r.lastSeen); err != nil {
			t.Fatal(err)
		}
	}
	svc := e.start(t)
	testenv.WaitFor(t, 10*time.Second, "the identities past retention to be deleted", func() bool {
		var n int
		if err := e.Pool.QueryRow(t.Context(), `SELECT count(*) FROM identity.login_identities WHERE user_id IN ('old', 'older')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	if ids, err := svc.Identities(t.Context(), "young"); err != nil || len(ids) != 1 {
		t.Errorf("identities of the young user: %v (%v), want the one", ids, err)
	}
}

// TestHTTPShowsShoppersOnlyTheirOwnIdentitiesAndScores asks the routes
// of identity, as two shoppers, as nobody and for orders that do not
// exist, after each shopper logged in and placed an order.
func TestHTTPShowsShoppersOnlyTheirOwnIdentitiesAndScores(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.start(t)
	e.logIn(t, svc, "u-1", firefox, home)
	e.logIn(t, svc, "u-2", safari, office)
	e.Publish(t, e.cfg.OrdersStream,
		order("o-1", "u-1", firefox, cafe).Event(orderKey),
		order("o-2", "u-2", safari, office).Event(orderKey))
	sc1 := waitScore(t, svc, "o-1", 10*time.Second)
	waitScore(t, svc, "o-2", 10*time.Second)
	ids, err := svc.Identities(t.Context(), "u-1")
	if err != nil || len(ids) != 1 {
		t.Fatalf("Identities(u-1) = %v, %v; want one", ids, err)
	}

	signer := servicetest.Signer()
	h := identity.NewHandler(svc, signer)

	notFound := web.ErrorBody{Error: web.ErrorDetail{Code: "not_found", Message: "no identity score for this order"}}
	tests := []struct {
		name       string
		path       string
		user       string // "" sends no identity
		wantStatus int
		wantBody   any // nil: only the status is checked
	}{
		{name: "identities without identity", path: "/identities", wantStatus: http.StatusUnauthorized},
		{name: "score without identity", path: "/scores/o-1", wantStatus: http.StatusUnauthorized},
		{
			name: "own identities", path: "/identities", user: "u-1", wantStatus: http.StatusOK,
			wantBody: map[string]any{"identities": []any{map[string]any{
				"fingerprint": identity.Fingerprint(firefox), "ip": home, "firstSeen": ids[0].FirstSeen, "lastSeen": ids[0].LastSeen,
			}}},
		},
		{name: "no identities", path: "/identities", user: "u-3", wantStatus: http.StatusOK, wantBody: map[string]any{"identities": []any{}}},
		{
			name: "own score", path: "/scores/o-1", user: "u-1", wantStatus: http.StatusOK,
			wantBody: map[string]any{"orderId": "o-1", "score": 0.5, "potentialFraud": false, "scoredAt": sc1.ScoredAt},
		},
		{name: "other user's score", path: "/scores/o-2", user: "u-1", wantStatus: http.StatusNotFound, wantBody: notFound},
		{name: "unknown order", path: "/scores/o-9", user: "u-1", wantStatus: http.StatusNotFound, wantBody: notFound},
		{
			name: "malformed order id", path: "/scores/o%20'1", user: "u-1", wantStatus: http.StatusNotFound,
			wantBody: web.ErrorBody{Error: web.ErrorDetail{Code: "not_found", Message: "no such orderId"}},
		},
		{name: "liveness", path: "/healthz", wantStatus: http.StatusOK, wantBody: map[string]string{"status": "ok"}},
		{name: "readiness", path: "/readyz", wantStatus: http.StatusOK, wantBody: map[string]string{"status": "ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var caller []string
			if tt.user != "" {
				caller = []string{auth.Header, signer.Sign(auth.Identity{Role: auth.RoleShopper, UserID: tt.user, SessionID: stream.NewID()})}
			}
			status, body, header := testenv.Get(t, h, tt.path, caller...)
			var got any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("GET %s: decode body %q: %v", tt.path, body, err)
			}
			if status != tt.wantStatus {
				t.Errorf("GET %s as %q: status %d, want %d; body %v", tt.path, tt.user, status, tt.wantStatus, got)
			}
			if ct := header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q, want JSON", tt.path, ct)
			}
			if header.Get(web.RequestIDHeader) == "" {
				t.Errorf("GET %s: no %s header", tt.path, web.RequestIDHeader)
			}
			if tt.wantBody == nil {
				return
			}
			if diff := cmp.Diff(testenv.JSON(t, tt.wantBody), got); diff != "" {
				t.Errorf("GET %s as %q: body (-want +got):\n%s", tt.path, tt.user, diff)
			}
		})
	}
}
