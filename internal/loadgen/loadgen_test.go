package loadgen_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/app"
	"streamcart/internal/events"
	"streamcart/internal/gateway"
	"streamcart/internal/loadgen"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

func TestConfigIsValidated(t *testing.T) {
	t.Parallel()
	good := loadgen.Config{Target: "http://127.0.0.1:1", Rate: 1, Duration: time.Second, Concurrency: 1, API: "v1"}
	for name, change := range map[string]func(*loadgen.Config){
		"no target":     func(c *loadgen.Config) { c.Target = "" },
		"zero rate":     func(c *loadgen.Config) { c.Rate = 0 },
		"zero duration": func(c *loadgen.Config) { c.Duration = 0 },
		"no room":       func(c *loadgen.Config) { c.Concurrency = 0 },
		"unknown api":   func(c *loadgen.Config) { c.API = "v2" },
	} {
		cfg := good
		change(&cfg)
		if _, err := loadgen.Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: Run accepted the config", name)
		}
	}
	// A valid config against nothing: the target is unreachable.
	if _, err := loadgen.Run(context.Background(), good); err == nil {
		t.Error("Run reported no error for an unreachable target")
	}
}

// startShop starts the services named (all when none) in this process on
// the given Redis and database, with the catalog seeded, until the test
// ends. secret signs identities, nil for a random one.
func startShop(t *testing.T, redisURL, dbURL string, secret []byte, urls map[string]string, names ...string) *app.System {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sys, err := app.Start(ctx, app.Config{
		RedisURL:    redisURL,
		DatabaseURL: dbURL,
		URLs:        urls,
		Secret:      secret,
		Seed:        true,
		// The load comes from one address.
		Gateway: gateway.Config{NewSessionsPerMinute: -1, EventStreamsPerIP: -1},
		Tuning: app.Tuning{
			Consumer: stream.Config{Block: 200 * time.Millisecond},
			Outbox:   outbox.Config{Poll: 50 * time.Millisecond},
		},
		Log: testenv.Logger(t),
	}, names...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = sys.Wait() })
	return sys
}

// TestRunAgainstTheShop runs a short load through a real system with both
// APIs and checks that the report adds up.
func TestRunAgainstTheShop(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sys := startShop(t, testenv.OwnRedis(t, "").URL(), testenv.Postgres(t), nil, nil)
	for _, tc := range []struct {
		api     string
		perSess int
	}{{"v1", 1}, {"tutorial", 1}, {"v1", 3}} {
		api := tc.api
		rep, err := loadgen.Run(ctx, loadgen.Config{
			Target: sys.URLs[app.Gateway], Rate: 20, Duration: 2 * time.Second, Concurrency: 100, API: api,
			OrdersPerSession: tc.perSess, Settle: 20 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Accepted < 30 || rep.Accepted != int64(tc.perSess)*rep.Started || rep.Final != rep.Accepted || rep.NotFinal != 0 || rep.ErrorCount != 0 {
			t.Errorf("%s, %d per session: report %+v, want every shopper's orders accepted and final, no errors", api, tc.perSess, rep)
		}
		if h, f := rep.HTTP, rep.OrderToFinal; h.Count != int(rep.Started+2*rep.Accepted) || !(h.P50 <= h.P95 && h.P95 <= h.P99 && h.P99 <= h.Max) ||
			f.Count != int(rep.Final) || !(f.P50 <= f.P99 && f.P99 <= f.Max) || f.P50 <= 0 {
			t.Errorf("%s: latencies %+v and %+v do not add up", api, h, f)
		}
		// Every shopper opened one session and one event stream and
		// searched once per order; the HTTP steps make up the HTTP
		// figures, and nothing needed polling after the run.
		httpSteps := 0
		for step, want := range map[string]int64{"session": rep.Started, "events": rep.Started, "search": rep.Accepted, "order": rep.Accepted} {
			l := rep.Steps[step]
			if l.Count != int(want) || !(l.P50 <= l.P99 && l.P99 <= l.Max) || l.Max <= 0 {
				t.Errorf("%s: step %s %+v, want %d timings in order", api, step, l, want)
			}
			if step != "events" {
				httpSteps += l.Count
			}
		}
		if httpSteps != rep.HTTP.Count || rep.Steps["status"].Count != 0 {
			t.Errorf("%s: steps %+v do not make up the %d HTTP requests", api, rep.Steps, rep.HTTP.Count)
		}
	}
}

// TestOrderWhoseSessionVanishedIsUnverifiableNotLost ends the gateway's
// sessions in the middle of shoppers' visits, as logging out does (or a
// new identity secret, which ends every session). A shopper's next order
// then goes to a new anonymous session, and the poll after the run can no
// longer read it. PostgreSQL has every order final, so the report must
// count those orders as unverifiable, not as lost or stuck.
func TestOrderWhoseSessionVanishedIsUnverifiableNotLost(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	redisSrv := testenv.OwnRedis(t, "")
	dbURL := testenv.Postgres(t)
	secret := []byte("loadgen test secret, 32 bytes...")
	// Payments starts later. Each shopper gives up watching its order at
	// once (WaitFinal 1ms is shorter than any order's way to final) and
	// leaves it to the polls after the run, which read it with the
	// shopper's session: the session's own event stream, opened before
	// Redis lost the sessions, would still report it.
	sys := startShop(t, redisSrv.URL(), dbURL, secret, nil, allBut(app.Payments)...)
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	countOrders := orderCounter(t, dbURL)
	wait := runInBackground(t, loadgen.Config{
		Target: sys.URLs[app.Gateway], Rate: 10, Duration: time.Second, Concurrency: 100, API: "v1",
		OrdersPerSession: 2, Settle: 30 * time.Second, WaitFinal: time.Millisecond,
	})

	// Once a shopper has placed its first order, every session so far is
	// revoked, as a logout revokes it (gateway.Revoke of each session id
	// that a login event names); then payments starts and orders become
	// final.
	testenv.WaitFor(t, time.Minute, "a shopper's first order", func() bool { return countOrders("") > 0 })
	logins, err := rdb.XRange(ctx, events.TransactionStream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var revoked int
	for _, m := range logins {
		if sid, _ := m.Values["sessionId"].(string); sid != "" && m.Values[stream.FieldEventType] == events.TypeLoginIdentityRecorded {
			if err := gateway.Revoke(ctx, rdb, gateway.DefaultKeyPrefix, sid, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			revoked++
		}
	}
	if revoked == 0 {
		t.Fatal("no session to revoke")
	}
	startShop(t, redisSrv.URL(), dbURL, secret, sys.URLs, app.Payments)

	rep := wait()
	// PostgreSQL, the system of record, has every accepted order final.
	testenv.WaitFor(t, time.Minute, "every order final in PostgreSQL", func() bool {
		return countOrders(`WHERE status NOT IN (4, -4)`) == 0
	})
	if n := countOrders(""); n != rep.Accepted {
		t.Errorf("PostgreSQL has %d orders, the report %d accepted", n, rep.Accepted)
	}
	if rep.NotFinal != 0 {
		t.Errorf("report %+v: %d orders not final (lost or stuck), want 0: every one is final in PostgreSQL", rep, rep.NotFinal)
	}
	if rep.Unverifiable == 0 || rep.Final+rep.Unverifiable != rep.Accepted {
		t.Errorf("report %+v: %d final and %d unverifiable of %d accepted, want the orders of the vanished sessions unverifiable and the rest final",
			rep, rep.Final, rep.Unverifiable, rep.Accepted)
	}
}

// TestOrderLostOrStuckIsNotFinal checks that an order the shopper's own
// session cannot find (lost: here deleted from PostgreSQL) or that never
// becomes final (stuck: no payments service runs) is reported as not
// final, not as unverifiable.
func TestOrderLostOrStuckIsNotFinal(t *testing.T) {
	t.Parallel()
	dbURL := testenv.Postgres(t)
	sys := startShop(t, testenv.OwnRedis(t, "").URL(), dbURL, nil, nil, allBut(app.Payments)...)
	countOrders := orderCounter(t, dbURL)
	wait := runInBackground(t, loadgen.Config{
		Target: sys.URLs[app.Gateway], Rate: 5, Duration: time.Second, Concurrency: 100, API: "v1",
		Settle: 2 * time.Second,
	})
	testenv.WaitFor(t, time.Minute, "a first order", func() bool { return countOrders("") > 0 })
	tag, err := testenv.PoolAt(t, dbURL).Exec(t.Context(), `DELETE FROM orders.orders`)
	if err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("deleted %d orders (%v), want some", tag.RowsAffected(), err)
	}

	rep := wait()
	if rep.Accepted == 0 || rep.NotFinal != rep.Accepted || rep.Final != 0 || rep.Unverifiable != 0 {
		t.Errorf("report %+v: want every accepted order not final (%d lost, the others stuck), none unverifiable", rep, tag.RowsAffected())
	}
}

// allBut returns every service name but the one given.
func allBut(name string) []string {
	var names []string
	for _, n := range app.Services {
		if n != name {
			names = append(names, n)
		}
	}
	return names
}

// orderCounter returns a function that counts the orders in the database
// at dbURL, with an optional WHERE clause.
func orderCounter(t *testing.T, dbURL string) func(where string) int64 {
	t.Helper()
	pool := testenv.PoolAt(t, dbURL)
	return func(where string) int64 {
		t.Helper()
		var n int64
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM orders.orders `+where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// runInBackground starts a run with cfg and returns a function that waits
// for its report, failing the test if it errs or does not end.
func runInBackground(t *testing.T, cfg loadgen.Config) (wait func() loadgen.Report) {
	type result struct {
		rep loadgen.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := loadgen.Run(t.Context(), cfg)
		done <- result{rep, err}
	}()
	return func() loadgen.Report {
		t.Helper()
		select {
		case res := <-done:
			if res.err != nil {
				t.Fatal(res.err)
			}
			return res.rep
		case <-time.After(3 * time.Minute):
			t.Fatal("the run did not end")
			return loadgen.Report{}
		}
	}
}
