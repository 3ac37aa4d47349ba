package orderhistory_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/orderhistory"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// snapshot is everything the model holds: the records by user, as List
// returns them, and the raw records by order id, bookkeeping fields
// included, and the users' lists with their scores.
type snapshot struct {
	Records map[string][]orderhistory.Record
	Stored  map[string]map[string]string
	Sets    map[string][]redis.Z
}

func (e *env) snapshot(t *testing.T, users []string) snapshot {
	t.Helper()
	ctx := t.Context()
	s := snapshot{Records: map[string][]orderhistory.Record{}, Stored: map[string]map[string]string{}, Sets: map[string][]redis.Z{}}
	for _, u := range users {
		list, err := e.svc.List(ctx, u, orderhistory.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		s.Records[u] = list
	}
	var keys []string
	for _, kind := range []string{"orders:", "user:"} {
		k, err := e.rdb.Keys(ctx, e.cfg.KeyPrefix+"{model}:"+kind+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k...)
	}
	for _, k := range keys {
		switch typ := e.rdb.Type(ctx, k).Val(); typ {
		case "hash":
			for id, raw := range e.rdb.HGetAll(ctx, k).Val() {
				var h map[string]string
				if err := json.Unmarshal([]byte(raw), &h); err != nil {
					t.Fatalf("record %s in %s: %v", id, k, err)
				}
				delete(h, "statusAt") // when the merge applied the status: the rebuild's own time
				s.Stored[id] = h
			}
		case "zset":
			s.Sets[k] = e.rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		default:
			t.Fatalf("key %s is a %s", k, typ)
		}
	}
	return s
}

// store replaces order orderID's record with fields, as no merge would.
func (e *env) store(t *testing.T, orderID string, fields map[string]string) {
	t.Helper()
	raw, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.HSet(t.Context(), e.svc.BucketKey(orderID), orderID, raw).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestRebuildEqualsLive(t *testing.T) {
	t.Parallel()
	e := running(t)
	rng := rand.New(rand.NewPCG(1, 2))
	users := make([]string, 5)
	for i := range users {
		users[i] = testenv.Name(t, fmt.Sprintf("u%d", i))
	}
	var evs []stream.Event
	var placed []order
	for i := range 50 {
		user := users[rng.IntN(len(users))]
		o := newOrder(fmt.Sprintf("%s-o%02d", user, i), user, base.Add(time.Duration(rng.IntN(3600))*time.Second))
		o.score = float64(rng.IntN(5)) / 4
		o.fraud = o.score < 0.5
		if rng.IntN(4) == 0 {
			o.status = events.StatusPaymentFail
		}
		evs = append(evs, o.placed())
		placed = append(placed, o)
		if rng.IntN(10) > 0 { // some orders are not paid yet
			evs = append(evs, o.paid())
		}
		if rng.IntN(10) > 0 {
			evs = append(evs, o.scored())
		}
		if rng.IntN(5) == 0 { // and some events come twice
			evs = append(evs, evs[len(evs)-1])
		}
		if rng.IntN(10) == 0 { // and some payments come without their order
			p := newOrder(fmt.Sprintf("%s-p%02d", user, i), user, base.Add(time.Duration(rng.IntN(3600))*time.Second))
			evs = append(evs, p.paid())
		}
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	e.publish(t, evs...)
	e.settle(t)
	// Three entries the consumers dead-letter and the rebuild must skip:
	// an OrderPlaced without its user, one of an order that the orders
	// service does not have, and a score that names another user than
	// its order's. (The forged score comes after its order: were it
	// first, it would claim the order, live and in the rebuild alike, as
	// the merge trusts the first event's user.)
	bad := newOrder("bad", "", base).placed()
	unknown := newOrder(users[0]+"-unknown", users[0], base).placed()
	forgedOrder := placed[0]
	forgedOrder.user = "mallory-" + forgedOrder.user
	forged := forgedOrder.scored()
	forged.ID = "forged"
	e.publish(t, bad, forged)
	e.publishUnstored(t, unknown)
	e.settleWith(t, 3)
	live := e.snapshot(t, users)
	if n := len(live.Stored); n < 50 {
		t.Fatalf("live model has %d orders, want at least 50", n)
	}

	// Damage the model: a wrong field and a stray order, both of which the
	// rebuild must undo.
	victim := live.Records[users[0]][0].OrderID
	damaged := maps.Clone(live.Stored[victim])
	damaged["status"] = "0"
	e.store(t, victim, damaged)
	e.store(t, "stray", map[string]string{"orderId": "stray", "userId": users[0]})
	e.rdb.ZAdd(t.Context(), e.cfg.KeyPrefix+"{model}:user:"+users[0], redis.Z{Score: 1, Member: "stray"})

	if err := e.svc.Rebuild(t.Context()); err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	if diff := cmp.Diff(live, e.snapshot(t, users)); diff != "" {
		t.Errorf("rebuilt model differs from the live one (-live +rebuilt):\n%s", diff)
	}
	e.settleWith(t, 3) // the consumers are still fine
}

// TestScriptCacheFlushed checks that the merge recovers when Redis forgot
// its script (a restart, SCRIPT FLUSH), in the consumers and in Rebuild. It
// runs on a Redis of its own, whose script cache it may flush.
func TestScriptCacheFlushed(t *testing.T) {
	t.Parallel()
	srv := testenv.OwnRedis(t, "")
	rdb := testenv.RedisAt(t, srv.URL())
	e := newEnvOn(t, rdb)
	e.start(t)
	user, o := anOrder(t)
	e.publishSettled(t, o.placed())
	for _, ev := range []stream.Event{o.paid(), o.scored()} {
		if err := rdb.ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		e.publishSettled(t, ev)
	}
	if diff := cmp.Diff(o.record(), e.get(t, user, o.id)); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if err := rdb.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Rebuild(t.Context()); err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	if diff := cmp.Diff(o.record(), e.get(t, user, o.id)); diff != "" {
		t.Errorf("rebuilt record (-want +got):\n%s", diff)
	}
}

// TestRebuildRestoresEveryOrderFromTheSystemOfRecordWhenTheStreamsAreTrimmed
// trims the orders and payments streams to nothing, then rebuilds: every
// order the orders service has comes back, with the status and payment it
// has there, and the score of the transaction stream where it still has
// one.
func TestRebuildRestoresEveryOrderFromTheSystemOfRecordWhenTheStreamsAreTrimmed(t *testing.T) {
	t.Parallel()
	e := running(t)
	user := testenv.Name(t, "u")
	scored := newOrder(user+"-a", user, base)
	declined := newOrder(user+"-b", user, base.Add(time.Minute))
	declined.status = events.StatusPaymentFail
	unpaid := newOrder(user+"-c", user, base.Add(2*time.Minute))
	e.publish(t, scored.placed(), scored.paid(), scored.scored(), declined.placed(), declined.paid(), unpaid.placed())
	e.settle(t)
	unpaidSnapshot := unpaid.snapshot()
	unpaidSnapshot.Status, unpaidSnapshot.PaymentID = events.StatusCreated, ""
	unpaidSnapshot.UpdatedOn, unpaidSnapshot.UpdatedBy = unpaid.created, user
	e.orders.put(scored.snapshot(), declined.snapshot(), unpaidSnapshot)
	for _, s := range []string{e.cfg.OrdersStream, e.cfg.PaymentsStream} {
		if err := e.rdb.XTrimMaxLen(t.Context(), s, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	if err := e.svc.Rebuild(t.Context()); err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	got, err := e.svc.List(t.Context(), user, 10)
	if err != nil {
		t.Fatal(err)
	}
	declinedRecord := declined.record()
	declinedRecord.LastUpdatedOn, declinedRecord.LastUpdatedBy = declined.created.Add(1500*time.Millisecond), "payments"
	declinedRecord.IdentityScore = nil // its score was never published
	unpaidRecord := unpaid.record()
	unpaidRecord.Status, unpaidRecord.StatusName, unpaidRecord.PaymentID = events.StatusCreated, "CREATED", ""
	unpaidRecord.LastUpdatedOn, unpaidRecord.LastUpdatedBy, unpaidRecord.IdentityScore = unpaid.created, user, nil
	want := []orderhistory.Record{unpaidRecord, declinedRecord, scored.record()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rebuilt history (-want +got):\n%s", diff)
	}
}

// TestTheHistoryRebuildsItselfWhenRedisLosesItsData deletes every key of
// the model and every stream at once, as an empty Redis restart would:
// with no one asking, the service notices and rebuilds the history from
// the orders service's snapshots, and meanwhile readers get 503
// "unavailable" with Retry-After, never a list that lacks orders.
func TestTheHistoryRebuildsItselfWhenRedisLosesItsData(t *testing.T) {
	t.Parallel()
	e := running(t)
	a := newAPI(t, e.svc)
	user := testenv.Name(t, "u")
	var want []orderhistory.Record
	for i := range 7 { // more than two pages of snapshots
		o := newOrder(user+"-o"+string(rune('a'+i)), user, base.Add(time.Duration(i)*time.Minute))
		e.publish(t, o.placed(), o.paid())
		e.orders.put(o.snapshot())
		r := o.record()
		r.LastUpdatedOn, r.LastUpdatedBy, r.IdentityScore = o.created.Add(1500*time.Millisecond), "payments", nil
		want = append([]orderhistory.Record{r}, want...)
	}
	e.settle(t)

	release := e.orders.hold()
	defer release()
	calls := e.orders.callCount()
	keys := e.rdb.Keys(t.Context(), e.cfg.KeyPrefix+"*").Val()
	keys = append(keys, e.cfg.OrdersStream, e.cfg.PaymentsStream, e.cfg.TransactionStream)
	if err := e.rdb.Del(t.Context(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "the service asking orders for snapshots", func() bool {
		return e.orders.callCount() > calls
	})
	_, err := e.svc.List(t.Context(), user, 10)
	if errs.KindOf(err) != errs.KindUnavailable {
		t.Errorf("List while rebuilding: %v, want an Unavailable error", err)
	}
	if _, err := e.svc.Get(t.Context(), user, want[0].OrderID); errs.KindOf(err) != errs.KindUnavailable {
		t.Errorf("Get while rebuilding: %v, want an Unavailable error", err)
	}
	rec := a.get(t, "/history", user)
	var eb struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &eb)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || eb.Error.Code != "unavailable" ||
		eb.Error.Message != "the order history is being rebuilt; try again shortly" {
		t.Errorf("GET /history while rebuilding: %d %s, Retry-After %q; want 503 unavailable, being rebuilt, with Retry-After",
			rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}

	release()
	testenv.WaitFor(t, 10*time.Second, "the history rebuilt", func() bool {
		got, err := e.svc.List(t.Context(), user, 10)
		switch {
		case errs.KindOf(err) == errs.KindUnavailable:
			return false
		case err != nil:
			t.Fatalf("List: %v", err)
		case !cmp.Equal(want, got):
			t.Fatalf("List answered a history that is not the whole one (-want +got):\n%s", cmp.Diff(want, got))
		}
		return true
	})
	if rec := a.get(t, "/history/"+want[3].OrderID, user); rec.Code != http.StatusOK {
		t.Errorf("GET one order after the rebuild: %d %s", rec.Code, rec.Body)
	}
}

// TestOneRebuildRunsAtATime starts a rebuild and, while it waits for the
// orders service, another: the second is refused with ErrRebuildRunning,
// and the first completes the history.
func TestOneRebuildRunsAtATime(t *testing.T) {
	t.Parallel()
	e := running(t)
	release := e.orders.hold()
	defer release()
	calls := e.orders.callCount()
	first := make(chan error, 1)
	go func() { first <- e.svc.Rebuild(t.Context()) }()
	testenv.WaitFor(t, 10*time.Second, "the first rebuild asking orders", func() bool { return e.orders.callCount() > calls })
	if err := e.svc.Rebuild(t.Context()); !errors.Is(err, orderhistory.ErrRebuildRunning) {
		t.Errorf("a second Rebuild: %v, want ErrRebuildRunning", err)
	}
	release()
	if err := <-first; err != nil {
		t.Errorf("the first Rebuild: %v", err)
	}
	if err := e.svc.Complete(t.Context()); err != nil {
		t.Errorf("after the rebuild: %v, want the history complete", err)
	}
}

// TestARebuildThatLosesItsLockDoesNotMarkTheHistoryComplete deletes the
// rebuild's lock while the rebuild waits for the orders service, as a
// Redis that lost its data mid-rebuild would: the rebuild fails instead of
// marking a partial model complete, and the service's check runs a new
// one that completes it.
func TestARebuildThatLosesItsLockDoesNotMarkTheHistoryComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // not running: the test runs the first rebuild itself
	user, o := anOrder(t)
	e.orders.put(o.snapshot())
	release := e.orders.hold()
	defer release()
	first := make(chan error, 1)
	go func() { first <- e.svc.Rebuild(t.Context()) }()
	testenv.WaitFor(t, 10*time.Second, "the rebuild asking orders", func() bool { return e.orders.callCount() > 0 })
	if n := e.rdb.Del(t.Context(), e.cfg.KeyPrefix+"{model}:rebuilding").Val(); n != 1 {
		t.Fatalf("deleted %d lock keys, want 1", n)
	}
	release()
	if err := <-first; err == nil {
		t.Error("a rebuild that lost its lock succeeded")
	}
	if err := e.svc.Complete(t.Context()); errs.KindOf(err) != errs.KindUnavailable {
		t.Errorf("after a rebuild that lost its lock: %v, want the history incomplete", err)
	}
	e.start(t) // waits until the check rebuilt it
	if r, err := e.svc.Get(t.Context(), user, o.id); err != nil || r.Status != o.status {
		t.Errorf("after the check's rebuild: %+v, %v; want the order, %v", r, err, o.status)
	}
}
