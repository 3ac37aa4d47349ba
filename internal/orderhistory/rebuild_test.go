package orderhistory_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/orderhistory"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// snapshot is everything the model holds: the records by user, as List
// returns them, and the raw keys, bookkeeping fields and scores included.
type snapshot struct {
	Records map[string][]orderhistory.Record
	Hashes  map[string]map[string]string
	Sets    map[string][]redis.Z
}

func (e *env) snapshot(t *testing.T, users []string) snapshot {
	t.Helper()
	ctx := t.Context()
	s := snapshot{Records: map[string][]orderhistory.Record{}, Hashes: map[string]map[string]string{}, Sets: map[string][]redis.Z{}}
	for _, u := range users {
		list, err := e.svc.List(ctx, u, orderhistory.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		s.Records[u] = list
	}
	var keys []string
	for _, kind := range []string{"order:", "user:"} {
		k, err := e.rdb.Keys(ctx, e.cfg.KeyPrefix+kind+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k...)
	}
	for _, k := range keys {
		switch typ := e.rdb.Type(ctx, k).Val(); typ {
		case "hash":
			s.Hashes[k] = e.rdb.HGetAll(ctx, k).Val()
		case "zset":
			s.Sets[k] = e.rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		default:
			t.Fatalf("key %s is a %s", k, typ)
		}
	}
	return s
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
	// Two entries the consumers dead-letter and the rebuild must skip: an
	// OrderPlaced without its user, and a score that names another user
	// than its order's. (The forged score comes after its order: were it
	// first, it would claim the order, live and in the rebuild alike, as
	// the merge trusts the first event's user.)
	bad := newOrder("bad", "", base).placed()
	forgedOrder := placed[0]
	forgedOrder.user = "mallory-" + forgedOrder.user
	forged := forgedOrder.scored()
	forged.ID = "forged"
	e.publish(t, bad, forged)
	e.settleWith(t, 2)
	live := e.snapshot(t, users)
	if n := len(live.Hashes); n < 50 {
		t.Fatalf("live model has %d orders, want at least 50", n)
	}

	// Damage the model: a wrong field and a stray order, both of which the
	// rebuild must undo.
	victim := live.Records[users[0]][0].OrderID
	e.rdb.HSet(t.Context(), e.cfg.KeyPrefix+"order:"+victim, "status", "0")
	e.rdb.HSet(t.Context(), e.cfg.KeyPrefix+"order:stray", "orderId", "stray", "userId", users[0])
	e.rdb.ZAdd(t.Context(), e.cfg.KeyPrefix+"user:"+users[0], redis.Z{Score: 1, Member: "stray"})

	if err := e.svc.Rebuild(t.Context()); err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	if diff := cmp.Diff(live, e.snapshot(t, users)); diff != "" {
		t.Errorf("rebuilt model differs from the live one (-live +rebuilt):\n%s", diff)
	}
	e.settleWith(t, 2) // the consumers are still fine
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
	user := testenv.Name(t, "u")
	o := newOrder(user+"-o", user, base)
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
