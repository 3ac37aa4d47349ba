package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/app"
	"streamcart/internal/events"
	"streamcart/internal/platform/servers"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// startClusterShop starts every service on a Redis Cluster of the test's
// own, each as its own Redis user, with rate limits the load stays under.
func startClusterShop(t *testing.T) *shop {
	t.Helper()
	return startShop(t, shopOptions{cluster: true, trustProxy: true, partitions: clusterPartitions})
}

// clusterPartitions is how many partitions each stream has in the tests
// on a cluster: enough to spread every stream over the three primaries.
const clusterPartitions = 8

func TestShopThroughGatewayOnRedisCluster(t *testing.T) {
	t.Parallel()
	s := startClusterShop(t)
	var placed []order
	var shoppers []*shopper
	var streams []*orderEvents
	for i := range 4 {
		sh := s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", fmt.Sprintf("192.0.2.%d", 20+i))
		// Each shopper's browser listens to its order updates (sharded
		// Pub/Sub on a cluster) before it orders.
		streams = append(streams, sh.orderEvents())
		a, b := sh.twoPumas()
		for range 3 {
			placed = append(placed, sh.placeOrder(item{ProductID: a.ID, Qty: 1}, item{ProductID: b.ID, Qty: 2}))
		}
		shoppers = append(shoppers, sh)
	}
	testenv.WaitFor(t, 60*time.Second, "every order final", func() bool { return s.notFinal() == 0 })
	s.checkSettled(len(placed))
	// The history, on one slot, and the identity scores reach every
	// shopper's orders.
	for i, sh := range shoppers {
		rec := sh.settledRecord(placed[3*i].OrderID)
		if rec.IdentityScore == nil || *rec.IdentityScore != 1 {
			t.Errorf("history record %+v, want an identity score of 1", rec)
		}
	}
	// Each stream sees its shopper's orders reach their final status,
	// and no other shopper's update.
	for i, st := range streams {
		final := map[string]bool{}
		for _, o := range placed[3*i : 3*i+3] {
			final[o.OrderID] = false
		}
		for done := 0; done < len(final); {
			select {
			case rec := <-st.recs:
				if rec.UserID != placed[3*i].UserID {
					t.Fatalf("shopper %d's stream relayed %+v of another user", i, rec)
				}
				if seen, ok := final[rec.OrderID]; ok && !seen && (rec.Status == 4 || rec.Status == -4) {
					final[rec.OrderID] = true
					done++
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("shopper %d's stream: orders final so far %v", i, final)
			}
		}
	}
	admin := s.redisClient()
	// The gateway listens to each shopper's channel on its shard, and to
	// no pattern of classic Pub/Sub.
	channel := events.OrderUpdatesChannel(placed[0].UserID)
	primary, err := admin.(*redis.ClusterClient).MasterForKey(t.Context(), channel)
	if err != nil {
		t.Fatal(err)
	}
	if n := primary.PubSubShardNumSub(t.Context(), channel).Val(); n[channel] != 1 {
		t.Errorf("sharded subscribers of the first shopper's channel: %v, want 1", n)
	}
	err = admin.(*redis.ClusterClient).ForEachShard(t.Context(), func(ctx context.Context, node *redis.Client) error {
		if n := node.PubSubNumPat(ctx).Val(); n != 0 {
			return fmt.Errorf("%d pattern subscriptions on %s", n, node.Options().Addr)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	wantNoDeadLetters(t, admin)
	wantNothingRefusedOnAnyNode(t, admin)
}

// orderEvents is a shopper's open order event stream: the records of its
// "order" events arrive on recs.
type orderEvents struct {
	recs chan historyRecord
}

// orderEvents opens the shopper's order event stream and returns once
// the gateway said it is ready; the stream closes when the test ends.
func (sh *shopper) orderEvents() *orderEvents {
	t := sh.s.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", sh.s.sys.URLs[app.Gateway]+"/api/v1/orders/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+sh.token)
	req.Header.Set("X-Forwarded-For", sh.ip)
	resp, err := sh.s.client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		t.Fatalf("order events: status %d", resp.StatusCode)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() && lines.Text() != "event: ready" {
	}
	if lines.Err() != nil {
		cancel()
		t.Fatalf("order events: no ready event: %v", lines.Err())
	}
	e := &orderEvents{recs: make(chan historyRecord, 256)}
	var wg sync.WaitGroup
	wg.Go(func() {
		order := false
		for lines.Scan() {
			line := lines.Text()
			switch {
			case line == "event: order":
				order = true
			case order && strings.HasPrefix(line, "data: "):
				order = false
				var rec historyRecord
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &rec); err != nil {
					t.Errorf("order event %q: %v", line, err)
					continue
				}
				select {
				case e.recs <- rec:
				default:
					t.Errorf("order events: more than %d unread", cap(e.recs))
				}
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		wg.Wait()
	})
	return e
}

// wantNoDeadLetters checks that no partition of a stream has dead
// letters.
func wantNoDeadLetters(t *testing.T, admin redis.UniversalClient) {
	t.Helper()
	for _, name := range []string{events.OrdersStream, events.PaymentsStream, events.TransactionStream, events.ProductsStream} {
		for _, key := range stream.Partitions(name, clusterPartitions) {
			if n := admin.XLen(t.Context(), stream.DeadLetterStream(key)).Val(); n != 0 {
				t.Errorf("%d dead letters of %s", n, key)
			}
		}
	}
}

// wantNothingRefusedOnAnyNode is wantNothingRefused on every node of a
// cluster.
func wantNothingRefusedOnAnyNode(t *testing.T, admin redis.UniversalClient) {
	t.Helper()
	c := admin.(*redis.ClusterClient)
	err := c.ForEachShard(t.Context(), func(ctx context.Context, node *redis.Client) error {
		wantNothingRefused(t, node)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// orderLoad places orders through the gateway, one after another per
// shopper, until stopped, and keeps the time and outcome of each.
type orderLoad struct {
	mu       sync.Mutex
	accepted []string // order ids answered 201
	failures map[string]int
	results  []loadResult
	stop     chan struct{}
	wg       sync.WaitGroup
}

type loadResult struct {
	at time.Time // when the answer came
	ok bool
}

// startOrderLoad starts a loader per shopper. Its requests do not use t,
// which a goroutine may not fail; they count as failures instead.
func startOrderLoad(s *shop, shoppers []*shopper, productID string) *orderLoad {
	l := &orderLoad{failures: map[string]int{}, stop: make(chan struct{})}
	client := &http.Client{Timeout: 20 * time.Second}
	body, _ := json.Marshal(map[string]any{"items": []item{{ProductID: productID, Qty: 1}}})
	for _, sh := range shoppers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(40 * time.Millisecond): // under the session's rate limit
				}
				req, _ := http.NewRequest("POST", s.sys.URLs[app.Gateway]+"/api/v1/orders", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("User-Agent", sh.agent)
				req.Header.Set("X-Forwarded-For", sh.ip)
				req.Header.Set("Authorization", "Bearer "+sh.token)
				var o order
				outcome := ""
				resp, err := client.Do(req)
				if err != nil {
					outcome = "transport: " + err.Error()
				} else {
					if resp.StatusCode == http.StatusCreated {
						err = json.NewDecoder(resp.Body).Decode(&o)
					}
					resp.Body.Close()
					switch {
					case resp.StatusCode != http.StatusCreated:
						outcome = resp.Status
					case err != nil || o.OrderID == "":
						outcome = fmt.Sprintf("undecodable 201: %v", err)
					}
				}
				l.mu.Lock()
				l.results = append(l.results, loadResult{at: time.Now(), ok: outcome == ""})
				if outcome == "" {
					l.accepted = append(l.accepted, o.OrderID)
				} else {
					l.failures[outcome]++
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// finish stops the load and waits for the requests in flight.
func (l *orderLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// okSince counts the orders accepted after t.
func (l *orderLoad) okSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.results {
		if r.ok && r.at.After(t) {
			n++
		}
	}
	return n
}

// gaps returns, for the results after t, the longest time without an
// accepted order and the time from t to the first accepted order.
func (l *orderLoad) gaps(t time.Time) (longest, firstOK time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := t
	firstOK = -1
	for _, r := range l.results {
		if !r.ok || !r.at.After(t) {
			continue
		}
		if firstOK < 0 {
			firstOK = r.at.Sub(t)
		}
		longest = max(longest, r.at.Sub(last))
		last = r.at
	}
	return longest, firstOK
}

// streamGap reads the entries of stream around t and returns the longest
// time without an entry across t and the time from t to the first entry
// after it (0 when none yet); entry ids are the primary's clock, in ms.
func streamGap(t *testing.T, admin redis.UniversalClient, stream string, at time.Time) (longest, first time.Duration) {
	t.Helper()
	from := at.Add(-5 * time.Second).UnixMilli()
	entries, err := admin.XRange(t.Context(), stream, fmt.Sprint(from), "+").Result()
	if err != nil {
		return 0, 0
	}
	last := time.UnixMilli(from)
	for _, e := range entries {
		var ms int64
		fmt.Sscanf(e.ID, "%d-", &ms)
		ts := time.UnixMilli(ms)
		if ts.After(at) && first == 0 {
			first = ts.Sub(at)
			longest = max(longest, ts.Sub(last))
		}
		last = ts
	}
	return longest, first
}

// primaryOf returns the running node that serves key, as the cluster
// says.
func primaryOf(t *testing.T, rc *servers.RedisCluster, admin redis.UniversalClient, key string) *servers.Redis {
	t.Helper()
	var node *servers.Redis
	testenv.WaitFor(t, 30*time.Second, "the primary of "+key, func() bool {
		node = primaryNow(t, rc, admin, key)
		return node != nil
	})
	return node
}

// primaryNow returns the node that serves key, as a running node of the
// cluster says now, or nil.
func primaryNow(t *testing.T, rc *servers.RedisCluster, admin redis.UniversalClient, key string) *servers.Redis {
	c := admin.(*redis.ClusterClient)
	c.ReloadState(t.Context())
	primary, err := c.MasterForKey(t.Context(), key)
	if err != nil {
		return nil
	}
	node := rc.Node(primary.Options().Addr)
	if node == nil || node.PID() == 0 {
		return nil
	}
	return node
}

// replicaOf returns the running replica of the node at primary.
func replicaOf(t *testing.T, rc *servers.RedisCluster, admin redis.UniversalClient, primary *servers.Redis) *servers.Redis {
	t.Helper()
	var replica *servers.Redis
	testenv.WaitFor(t, 30*time.Second, "a replica of "+primary.Addr(), func() bool {
		for _, n := range rc.Nodes() {
			if n.PID() == 0 {
				continue
			}
			info, err := redis.NewClient(&redis.Options{Addr: n.Addr(), Username: "default", Password: "admin-password"}).Info(t.Context(), "replication").Result()
			if err == nil && bytes.Contains([]byte(info), []byte(fmt.Sprintf("master_port:%d", primary.Port()))) &&
				bytes.Contains([]byte(info), []byte("master_link_status:up")) {
				replica = n
				return true
			}
		}
		return false
	})
	return replica
}

// TestOrdersGoOnThroughRedisFailover kills the primary of ORDERS_STREAM
// (of its last partition, with several) under steady load: its replica
// takes over, the services go on without a restart, and every order
// answered 201 ends final exactly once. Then a planned failover (CLUSTER
// FAILOVER on a replica) costs no request at all.
func TestOrdersGoOnThroughRedisFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover under load takes about half a minute")
	}
	t.Parallel()
	s := startClusterShop(t)
	admin := s.redisClient()
	var shoppers []*shopper
	for i := range 2 {
		shoppers = append(shoppers, s.shopper("Mozilla/5.0 (X11; Linux) Firefox/140", fmt.Sprintf("192.0.2.%d", 40+i)))
	}
	a, _ := shoppers[0].twoPumas()
	for _, sh := range shoppers {
		sh.placeOrder(item{ProductID: a.ID, Qty: 1}) // warm up every path
	}
	// The stream whose primary dies.
	victimKey := stream.PartitionKey(events.OrdersStream, clusterPartitions-1, clusterPartitions)

	load := startOrderLoad(s, shoppers, a.ID)
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			load.finish()
		}
	}
	t.Cleanup(stopLoad)
	testenv.WaitFor(t, 20*time.Second, "orders under load", func() bool { return load.okSince(time.Time{}) >= 20 })

	victim := primaryOf(t, s.rc, admin, victimKey)
	killed := time.Now()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	var promoted *servers.Redis
	testenv.WaitFor(t, 45*time.Second, "a replica to take over "+victimKey, func() bool {
		promoted = primaryNow(t, s.rc, admin, victimKey)
		return promoted != nil && promoted != victim
	})
	testenv.WaitFor(t, 45*time.Second, "orders accepted after the failover", func() bool { return load.okSince(time.Now().Add(-time.Second)) > 0 })
	testenv.WaitFor(t, 45*time.Second, "new entries in "+victimKey+" after the failover", func() bool {
		_, firstAdd := streamGap(t, admin, victimKey, killed)
		return firstAdd > 0
	})
	gap, first := load.gaps(killed)
	t.Logf("primary of %s (%s) killed; %s took over: longest time without an accepted order %v (first %v after the kill)",
		victimKey, victim.Addr(), promoted.Addr(), gap.Round(time.Millisecond), first.Round(time.Millisecond))
	streamGapAfterKill, firstAdd := streamGap(t, admin, victimKey, killed)
	t.Logf("write gap of %s: %v without an entry appended; first entry %v after the kill", victimKey, streamGapAfterKill.Round(time.Millisecond), firstAdd.Round(time.Millisecond))

	// The old primary comes back as a replica of the new one.
	if err := victim.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.rc.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	load.mu.Lock()
	failedBefore := len(load.results) - len(load.accepted)
	load.mu.Unlock()

	// A planned failover: the replica takes over in step with its primary.
	primary := primaryOf(t, s.rc, admin, victimKey)
	replica := replicaOf(t, s.rc, admin, primary)
	planned := time.Now()
	rdb := redis.NewClient(&redis.Options{Addr: replica.Addr(), Username: "default", Password: "admin-password"})
	defer rdb.Close()
	if err := rdb.Do(t.Context(), "CLUSTER", "FAILOVER").Err(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the replica to take over", func() bool {
		info, err := rdb.Info(t.Context(), "replication").Result()
		return err == nil && bytes.Contains([]byte(info), []byte("role:master"))
	})
	testenv.WaitFor(t, 30*time.Second, "orders after the planned failover", func() bool { return load.okSince(planned) >= 20 })
	pgap, _ := load.gaps(planned)
	stopLoad()
	failures := len(load.results) - len(load.accepted)
	t.Logf("planned failover of %s to %s: longest gap %v, %d requests failed", primary.Addr(), replica.Addr(), pgap.Round(time.Millisecond), failures-failedBefore)
	t.Logf("load: %d orders accepted, %d failed: %v", len(load.accepted), failures, load.failures)
	if failures != failedBefore {
		t.Errorf("%d requests failed during the planned failover, want none: %v", failures-failedBefore, load.failures)
	}

	// Every order answered 201 ends final with one payment; the
	// reconciler heals what the failover lost.
	testenv.WaitFor(t, 90*time.Second, "every order final", func() bool { return s.notFinal() == 0 })
	total := testenv.Rows(t, s.pool, "orders.orders")
	if total < len(load.accepted)+len(shoppers) {
		t.Errorf("%d orders in the database, fewer than the %d accepted", total, len(load.accepted)+len(shoppers))
	}
	s.checkSettled(total)
	var missing int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM unnest($1::text[]) AS a(id) LEFT JOIN orders.orders o ON o.order_id = a.id WHERE o.order_id IS NULL`, load.accepted).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Errorf("%d orders answered 201 are not in the database", missing)
	}
	wantNoDeadLetters(t, admin)
}
