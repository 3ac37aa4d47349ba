package app_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/app"
	"streamcart/internal/events"
	"streamcart/internal/identity"
	"streamcart/internal/ordercheck"
	"streamcart/internal/orderhistory"
	"streamcart/internal/payments"
	"streamcart/internal/platform/servers"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// userClient returns a client of r as Redis user name.
func userClient(t *testing.T, r *servers.Redis, name string) redis.UniversalClient {
	t.Helper()
	u, err := r.UserURL(name)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.RedisAt(t, u)
}

// adminClient returns a client of r as its default user, an admin.
func adminClient(t *testing.T, r *servers.Redis) redis.UniversalClient {
	t.Helper()
	return testenv.RedisAt(t, r.URL())
}

// TestARedisUserMayWriteOnlyWhatItsServiceOwns runs commands as each
// service's Redis user: appending to another service's stream, touching
// another service's keys and administering the server are refused with
// NOPERM; what the service does itself is allowed.
func TestARedisUserMayWriteOnlyWhatItsServiceOwns(t *testing.T) {
	t.Parallel()
	r := ownRedisWithUsers(t, 1)
	ctx := t.Context()
	xadd := func(s string) []any { return []any{"XADD", s, "*", "eventId", "e", "eventType", "T"} }
	tests := []struct {
		user    string
		cmd     []any
		allowed bool
	}{
		{app.Orders, xadd(events.OrdersStream), true},
		// The gateway's event stream slots are sorted sets (streamSlotsScript).
		{app.Gateway, []any{"ZREMRANGEBYSCORE", "gateway:slots:x", "-inf", "0"}, true},
		{app.Gateway, []any{"ZADD", "gateway:slots:x", "1", "a"}, true},
		{app.Gateway, []any{"ZCARD", "gateway:slots:x"}, true},
		{app.Gateway, []any{"ZREM", "gateway:slots:x", "a"}, true},
		// Session revocations: a sorted set and a channel.
		{app.Gateway, []any{"ZRANGE", "gateway:revocations", "0", "+inf", "BYSCORE", "WITHSCORES"}, true},
		{app.Gateway, []any{"PUBLISH", "gateway:revocations", "s 1"}, true},
		{app.History, []any{"PUBLISH", "gateway:revocations", "s 1"}, false},
		{app.Payments, xadd(events.PaymentsStream), true},
		{app.Gateway, xadd(events.TransactionStream), true},
		{app.Identity, xadd(events.TransactionStream), true},
		{app.Payments, xadd(stream.DeadLetterStream(events.OrdersStream)), true},
		{app.Ops, xadd(events.OrdersStream), true}, // a replay
		{app.Orders, xadd(events.OrderSnapshotsStream), true},
		{app.History, []any{"XRANGE", events.OrderSnapshotsStream, "-", "+"}, true},

		{app.Payments, xadd(events.OrdersStream), false},
		{app.Gateway, xadd(events.PaymentsStream), false},
		{app.Gateway, xadd(events.OrdersStream), false},
		{app.Orders, xadd(events.PaymentsStream), false},
		{app.Orders, xadd(events.TransactionStream), false},
		{app.Identity, xadd(events.OrdersStream), false},
		{app.Identity, xadd(events.PaymentsStream), false},
		{app.History, xadd(events.OrdersStream), false},
		{app.History, xadd(events.TransactionStream), false},
		// Only orders may say what an order is now.
		{app.History, xadd(events.OrderSnapshotsStream), false},
		{app.Payments, xadd(events.OrderSnapshotsStream), false},
		{app.Gateway, xadd(events.OrderSnapshotsStream), false},
		{app.Identity, xadd(events.OrderSnapshotsStream), false},
		{app.Ops, xadd(events.OrderSnapshotsStream), false},
		{app.Products, xadd(events.OrdersStream), false},
		{app.Products, xadd("products:v1:x"), false},
		{app.Payments, xadd(stream.DeadLetterStream(events.PaymentsStream)), false},
		// A consumer may not delete entries, trim or drop a stream.
		{app.Payments, []any{"XDEL", events.OrdersStream, "1-0"}, false},
		{app.Payments, []any{"XTRIM", events.OrdersStream, "MAXLEN", "0"}, false},
		{app.Payments, []any{"DEL", events.OrdersStream}, false},
		{app.Payments, []any{"XGROUP", "DESTROY", events.OrdersStream, "orderhistory"}, false},
		// Nor read a stream it does not follow.
		{app.Payments, []any{"XRANGE", events.TransactionStream, "-", "+"}, false},
		{app.Gateway, []any{"XRANGE", events.OrdersStream, "-", "+"}, false},
		// Each service's own keys are its own.
		{app.Gateway, []any{"HSET", "gateway:session:x", "userId", "u"}, true},
		{app.Products, []any{"SET", "products:search:v1:gen", "1"}, true},
		{app.Products, []any{"HGETALL", "gateway:session:x"}, false},
		{app.History, []any{"HSET", "gateway:session:x", "userId", "u"}, false},
		{app.Gateway, []any{"HSET", "orderhistory:order:o-1", "status", "4"}, false},
		{app.Gateway, []any{"SET", "products:v1:p-00001", "{}"}, false},
		{app.Gateway, []any{"PUBLISH", events.OrderUpdatesChannel("u-1"), "{}"}, false},
		{app.History, []any{"PUBLISH", events.OrderUpdatesChannel("u-1"), "{}"}, true},
		{app.History, []any{"SPUBLISH", events.OrderUpdatesChannel("u-1"), "{}"}, true},
		{app.Gateway, []any{"SPUBLISH", events.OrderUpdatesChannel("u-1"), "{}"}, false},
		{app.History, []any{"SPUBLISH", "elsewhere", "{}"}, false},
		// The autoscaler reads the groups' lag, and nothing else.
		{app.Scaler, []any{"INFO", "server"}, true},
		{app.Scaler, []any{"XLEN", events.OrdersStream}, true},
		{app.Scaler, xadd(events.OrdersStream), false},
		{app.Scaler, []any{"XRANGE", events.OrdersStream, "-", "+"}, false},
		{app.Scaler, []any{"XREADGROUP", "GROUP", "payments", "c", "STREAMS", events.OrdersStream, ">"}, false},
		{app.Scaler, []any{"GET", "gateway:x"}, false},
		// And no one but the admin runs the server.
		{app.Gateway, []any{"FLUSHALL"}, false},
		{app.Ops, []any{"FLUSHDB"}, false},
		{app.History, []any{"CONFIG", "SET", "appendonly", "no"}, false},
		{app.Orders, []any{"ACL", "SETUSER", "orders", "+@all", "~*"}, false},
		{app.Gateway, []any{"KEYS", "*"}, false},
	}
	for _, tt := range tests {
		err := userClient(t, r, tt.user).Do(ctx, tt.cmd...).Err()
		switch {
		case tt.allowed && err != nil:
			t.Errorf("%s: %v: %v, want it allowed", tt.user, tt.cmd, err)
		case !tt.allowed && (err == nil || !strings.HasPrefix(err.Error(), "NOPERM")):
			t.Errorf("%s: %v: %v, want NOPERM", tt.user, tt.cmd, err)
		}
	}
	if err := userClient(t, r, app.Payments).Ping(ctx).Err(); err != nil {
		t.Errorf("PING as payments: %v", err)
	}
	anonymous := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer anonymous.Close()
	if err := anonymous.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("PING without credentials: %v, want NOAUTH", err)
	}
}

// TestEveryServiceDoesAllItsWorkAsItsOwnRedisUser runs the shop with each
// service on its own Redis user and takes orders through the gateway, its
// cart included, to their payment, score and history, rebuilds the
// history (orders publishing its snapshots) and replays a dead letter from the operations page's user: no
// command is refused along the way (the ACL log stays empty). It does so
// with each stream one Redis stream under its own name, and spread over
// eight partitions.
func TestEveryServiceDoesAllItsWorkAsItsOwnRedisUser(t *testing.T) {
	t.Parallel()
	for _, partitions := range []int{1, 8} {
		t.Run(fmt.Sprintf("%d partitions", partitions), func(t *testing.T) {
			t.Parallel()
			everyServiceDoesAllItsWork(t, partitions)
		})
	}
}

func everyServiceDoesAllItsWork(t *testing.T, partitions int) {
	s := startShop(t, shopOptions{trustProxy: true, redisUsers: true, partitions: partitions, metrics: true})
	ctx := t.Context()
	admin := adminClient(t, s.redis)
	sh := s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", "192.0.2.10")
	a, b := sh.twoPumas()
	if code := sh.do("GET", "/api/v1/products/"+a.ID, nil, nil); code != 200 {
		t.Fatalf("product %s: %d", a.ID, code)
	}
	placed := []string{sh.placeOrder(item{ProductID: a.ID, Qty: 1}).OrderID}
	if code := sh.do("PUT", "/api/v1/cart/items/"+b.ID, map[string]any{"qty": 2}, nil); code >= 300 {
		t.Fatalf("add to cart: %d", code)
	}
	var checkedOut order
	if code := sh.do("POST", "/api/v1/cart/checkout", nil, &checkedOut); code != 201 {
		t.Fatalf("checkout: %d", code)
	}
	placed = append(placed, checkedOut.OrderID)
	// More orders of other shoppers, so that several partitions get some.
	for i := range 4 {
		other := s.shopper("Mozilla/5.0 Chrome/150", fmt.Sprintf("192.0.2.%d", 20+i))
		placed = append(placed, other.placeOrder(item{ProductID: b.ID, Qty: 1 + i}).OrderID)
	}
	// The order event stream: the gateway counts its open streams in Redis.
	sh.openEvents()
	for i, id := range placed[:2] {
		if rec := sh.settledRecord(id); rec.IdentityScore == nil {
			t.Errorf("order %d (%s) has no identity score", i, id)
		}
	}
	testenv.WaitFor(t, 30*time.Second, "every order final", func() bool { return s.notFinal() == 0 })
	s.checkSettled(len(placed))

	// Each logical stream is its partitions: with one, the stream of its
	// own name; with more, none of that name, and the entries spread.
	logical := []string{events.OrdersStream, events.PaymentsStream, events.TransactionStream}
	for _, name := range logical {
		keys := stream.Partitions(name, partitions)
		used := 0
		for _, key := range keys {
			if admin.XLen(ctx, key).Val() > 0 {
				used++
			}
		}
		bare := admin.Exists(ctx, name).Val()
		switch {
		case partitions == 1 && (bare != 1 || used != 1):
			t.Errorf("%s: exists %d, want the stream under its own name", name, bare)
		case partitions > 1 && (bare != 0 || used < 2):
			t.Errorf("%s: exists %d, %d of %d partitions used; want no stream of that name and several partitions", name, bare, used, partitions)
		}
	}

	// The metrics name the logical stream, whatever the partitions: the
	// counts of all of them, the lag summed over them (known, so the
	// group is on every partition).
	s.waitForMetric(app.Payments, "streamcart_stream_messages_total", atLeast(float64(len(placed))),
		"stream", events.OrdersStream, "group", payments.Group, "outcome", "processed")
	s.waitForMetric(app.Payments, "streamcart_stream_lag", exactly(0), "stream", events.OrdersStream, "group", payments.Group)
	if key := stream.PartitionKey(events.OrdersStream, 0, partitions); partitions > 1 {
		if _, ok := s.metricsOf(app.Payments).Value("streamcart_stream_lag", "stream", key, "group", payments.Group); ok {
			t.Errorf("a lag series of the partition %s", key)
		}
	}

	// The history's rebuild, as its own user.
	historyURL := s.cfg.RedisURLs[app.History]
	if err := app.RebuildHistory(ctx, historyURL, s.sys.URLs[app.Orders], s.cfg.Secret, partitions, testenv.Logger(t)); err != nil {
		t.Fatalf("history rebuild as the orderhistory user: %v", err)
	}
	for i, id := range placed[:2] {
		if rec := sh.settledRecord(id); rec.PaymentID == "" || rec.IdentityScore == nil {
			t.Errorf("after the rebuild, order %d (%s) has no payment or no score: %+v", i, id, rec)
		}
	}

	// The operations page reads every partition and replays a dead letter
	// to its partition.
	opsRedis := userClient(t, s.redis, app.Ops)
	for _, name := range logical {
		for _, key := range stream.Partitions(name, partitions) {
			if _, err := stream.Inspect(ctx, opsRedis, key); err != nil {
				t.Errorf("inspect %s as ops: %v", key, err)
			}
		}
	}
	origin := stream.PartitionKey(events.PaymentsStream, partitions-1, partitions)
	dlq := stream.DeadLetterStream(origin)
	letter, err := admin.XAdd(ctx, &redis.XAddArgs{Stream: dlq, Values: []any{
		"eventId", stream.NewID(), "eventType", "Unknown", "dlq.originStream", origin, "dlq.error", "test",
	}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.DeadLetters(ctx, opsRedis, dlq, 10); err != nil {
		t.Errorf("read dead letters as ops: %v", err)
	}
	if _, err := stream.Replay(ctx, opsRedis, dlq, letter); err != nil {
		t.Errorf("replay as ops: %v", err)
	}

	// The autoscaler reads the lag of every group, as KEDA's scaler does,
	// on every partition.
	scaler := userClient(t, s.redis, app.Scaler)
	for name, groups := range map[string]int{events.OrdersStream: 3, events.PaymentsStream: 2, events.TransactionStream: 2} {
		for _, key := range stream.Partitions(name, partitions) {
			if got, err := scaler.XInfoGroups(ctx, key).Result(); err != nil || len(got) != groups {
				t.Errorf("XINFO GROUPS %s as the scaler: %d groups, %v; want %d", key, len(got), err, groups)
			}
			if err := scaler.XPending(ctx, key, app.History).Err(); err != nil {
				t.Errorf("XPENDING %s as the scaler: %v", key, err)
			}
		}
	}

	// Every service connected as its own user, and was refused nothing.
	clients, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range app.RedisUserNames {
		if !strings.Contains(clients, " user="+name+" ") {
			t.Errorf("no connection of Redis user %s in CLIENT LIST:\n%s", name, clients)
		}
	}
	wantNothingRefused(t, admin)
}

// TestAForgedOrderPlacedIsDeadLetteredAndNeverPaid appends, with admin
// credentials, an OrderPlaced that the orders service did not write (not
// signed with its key) and one of an unknown eventVersion (signed): each
// ends in the dead-letter stream, with no payment row, no identity score
// and no history entry, while a real order is paid.
func TestAForgedOrderPlacedIsDeadLetteredAndNeverPaid(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{trustProxy: true, redisUsers: true})
	admin := adminClient(t, s.redis)

	otherKey, err := events.NewOrderKey([]byte("a secret that is not the shop's, 32+ bytes"))
	if err != nil {
		t.Fatal(err)
	}
	victim := "u-victim"
	forged := events.OrderPlaced{Order: events.Order{
		OrderID: stream.NewID(), UserID: victim, AmountCents: 100, CreatedOn: time.Now(),
		Items: []events.LineItem{{ProductID: "p-00001", Qty: 1, PriceCents: 100}},
	}}
	unsigned := forged
	unsigned.OrderID = stream.NewID()
	unsignedEvent := unsigned.Event(otherKey)
	delete(unsignedEvent.Fields, events.FieldSignature)
	future := forged
	future.OrderID = stream.NewID()
	futureEvent := future.Event(s.sys.OrderKey)
	futureEvent.Version = 99

	entries := publishBad(t, admin, forged.Event(otherKey), unsignedEvent, futureEvent)
	real := s.placeOrder("u-real", item{ProductID: s.catalog(1)[0].ID, Qty: 1})
	s.waitDeadLettered(admin, entries)
	s.checkNeverApplied([]string{forged.OrderID, unsigned.OrderID, future.OrderID}, map[string]int{victim: 0})
	s.checkPaid(real.OrderID, real.AmountCents)
}

// TestAnOrderPlacedOfAnOrderThatOrdersDoesNotHaveIsDeadLetteredAndNeverPaid
// appends, with admin credentials, validly signed OrderPlaced events that
// the orders service's records contradict: of an order it never stored,
// and of a real order with another amount and with another user. payments,
// identity and the order history each ask orders (POST /orders/lookup)
// and dead-letter each one: no payment, no score, no history entry; the
// real order is paid once, at its amount, and shown to its shopper only.
func TestAnOrderPlacedOfAnOrderThatOrdersDoesNotHaveIsDeadLetteredAndNeverPaid(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{trustProxy: true, redisUsers: true})
	admin := adminClient(t, s.redis)
	p := s.catalog(1)[0]
	real := s.placeOrder("u-real", item{ProductID: p.ID, Qty: 2})

	line := []events.LineItem{{ProductID: p.ID, Qty: 1, PriceCents: p.PriceCents}}
	unknown := events.OrderPlaced{Order: events.Order{OrderID: stream.NewID(), UserID: "u-real", AmountCents: p.PriceCents, CreatedOn: time.Now(), Items: line}}
	cheaper := unknown
	cheaper.OrderID = real.OrderID
	stolen := events.OrderPlaced{Order: events.Order{OrderID: real.OrderID, UserID: "u-mallory", AmountCents: real.AmountCents, CreatedOn: time.Now(),
		Items: []events.LineItem{{ProductID: p.ID, Qty: 2, PriceCents: p.PriceCents}}}}
	entries := publishBad(t, admin, unknown.Event(s.sys.OrderKey), cheaper.Event(s.sys.OrderKey), stolen.Event(s.sys.OrderKey))
	after := s.placeOrder("u-after", item{ProductID: p.ID, Qty: 1})

	s.waitDeadLettered(admin, entries)
	s.checkNeverApplied([]string{unknown.OrderID}, map[string]int{"u-real": 1, "u-mallory": 0, "u-after": 1})
	s.checkPaid(real.OrderID, real.AmountCents)
	s.checkPaid(after.OrderID, after.AmountCents)
	for _, d := range s.deadLetters(admin) {
		if _, ok := entries[d.OriginID]; ok && !strings.Contains(d.Error, ordercheck.ErrUnknown.Error()) && !strings.Contains(d.Error, ordercheck.ErrMismatch.Error()) {
			t.Errorf("%s dead-lettered entry %s with %q, want that orders does not have its order", d.Group, d.OriginID, d.Error)
		}
	}
}

// publishBad appends evs to the orders stream with client and returns
// their entry ids.
func publishBad(t *testing.T, client redis.UniversalClient, evs ...stream.Event) map[string]bool {
	t.Helper()
	pub := stream.NewPublisher(client, nil)
	entries := map[string]bool{}
	for _, ev := range evs {
		entry, err := pub.Publish(t.Context(), events.OrdersStream, ev)
		if err != nil {
			t.Fatal(err)
		}
		entries[entry] = true
	}
	return entries
}

// deadLetters returns the dead letters of the orders stream.
func (s *shop) deadLetters(admin redis.UniversalClient) []stream.DeadLetter {
	s.t.Helper()
	letters, err := stream.DeadLetters(s.t.Context(), admin, stream.DeadLetterStream(events.OrdersStream), 100)
	if err != nil {
		s.t.Fatal(err)
	}
	return letters
}

// waitDeadLettered waits until payments, identity and the order history
// have each dead-lettered every entry of entries, and are done with the
// orders stream.
func (s *shop) waitDeadLettered(admin redis.UniversalClient, entries map[string]bool) {
	s.t.Helper()
	ctx := s.t.Context()
	groups := []string{payments.Group, identity.Group, orderhistory.Group}
	testenv.WaitFor(s.t, 30*time.Second, "the bad orders dead-lettered by every consumer", func() bool {
		got := map[string]bool{}
		for _, d := range s.deadLetters(admin) {
			if entries[d.OriginID] {
				got[d.OriginID+"/"+d.Group] = true
			}
		}
		return len(got) == len(entries)*len(groups)
	})
	testenv.WaitFor(s.t, 30*time.Second, "every order paid", func() bool { return s.notFinal() == 0 })
	testenv.WaitFor(s.t, 30*time.Second, "every consumer done with the orders stream", func() bool {
		return testenv.Handled(ctx, admin, payments.Group, events.OrdersStream) &&
			testenv.Handled(ctx, admin, identity.Group, events.OrdersStream) &&
			testenv.Handled(ctx, admin, orderhistory.Group, events.OrdersStream)
	})
}

// checkNeverApplied checks that none of orderIDs has a payment or an
// identity score, and that each user's history lists as many orders as
// histories says.
func (s *shop) checkNeverApplied(orderIDs []string, histories map[string]int) {
	s.t.Helper()
	ctx := s.t.Context()
	var paid, scored int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM payments.payments WHERE order_id = ANY($1)`, orderIDs).Scan(&paid); err != nil {
		s.t.Fatal(err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM identity.order_scores WHERE order_id = ANY($1)`, orderIDs).Scan(&scored); err != nil {
		s.t.Fatal(err)
	}
	if paid != 0 || scored != 0 {
		s.t.Errorf("the bad orders have %d payments and %d scores, want none", paid, scored)
	}
	for user, n := range histories {
		var history struct{ Orders []historyRecord }
		if code := s.call("GET", s.sys.URLs[app.History]+"/history", user, nil, &history); code != 200 || len(history.Orders) != n {
			s.t.Errorf("%s's history: %d with %+v, want 200 and %d orders", user, code, history.Orders, n)
		}
	}
}

// checkPaid checks that order orderID has one payment, of amountCents.
func (s *shop) checkPaid(orderID string, amountCents int64) {
	s.t.Helper()
	var n int
	var amount int64
	err := s.pool.QueryRow(s.t.Context(), `SELECT count(*), coalesce(max(amount_cents), 0) FROM payments.payments WHERE order_id = $1`, orderID).Scan(&n, &amount)
	if err != nil || n != 1 || amount != amountCents {
		s.t.Errorf("order %s has %d payments of %d (%v), want 1 of %d", orderID, n, amount, err, amountCents)
	}
}

// With partitions, a consumer's user names exactly the partitions of the
// streams it reads and their dead-letter streams, and the partitions of
// the stream it appends to: not the logical names, nor another stream's.
func TestARedisUserWithPartitionsNamesExactlyItsPartitions(t *testing.T) {
	t.Parallel()
	names := app.DefaultRedisNames()
	names.StreamPartitions = 2
	passwords := map[string]string{}
	for _, name := range app.RedisUserNames {
		passwords[name] = "p"
	}
	users, err := app.RedisUsers(names, passwords)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{} // user → command "xadd" or "xreadgroup" → keys
	for _, u := range users {
		for _, g := range u.Grants {
			for _, c := range g.Commands {
				if c == "xadd" || c == "xreadgroup" {
					keys[u.Name+" "+c] = append(keys[u.Name+" "+c], g.Keys...)
				}
			}
		}
	}
	want := map[string][]string{
		"payments xreadgroup": {"ORDERS_STREAM:0", "ORDERS_STREAM:1"},
		"payments xadd":       {"PAYMENTS_STREAM:0", "PAYMENTS_STREAM:1", "{ORDERS_STREAM:0}:dlq", "{ORDERS_STREAM:1}:dlq"},
		"orders xadd": {"ORDERS_STREAM:0", "ORDERS_STREAM:1", "ORDER_SNAPSHOTS",
			"{PAYMENTS_STREAM:0}:dlq", "{PAYMENTS_STREAM:1}:dlq", "{PRODUCTS_STREAM:0}:dlq", "{PRODUCTS_STREAM:1}:dlq"},
		"orders xreadgroup": {"PAYMENTS_STREAM:0", "PAYMENTS_STREAM:1", "PRODUCTS_STREAM:0", "PRODUCTS_STREAM:1"},
		"products xadd":     {"PRODUCTS_STREAM:0", "PRODUCTS_STREAM:1"},
		"gateway xadd":      {"TRANSACTION_STREAM:0", "TRANSACTION_STREAM:1"},
	}
	for key, w := range want {
		got := slices.Sorted(slices.Values(keys[key]))
		if !slices.Equal(got, slices.Sorted(slices.Values(w))) {
			t.Errorf("%s on %q, want %q", key, got, w)
		}
	}
}
