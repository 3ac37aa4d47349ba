package loadgen_test

import (
	"context"
	"testing"
	"time"

	"streamcart/internal/app"
	"streamcart/internal/gateway"
	"streamcart/internal/loadgen"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

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

// TestRunAgainstTheShop runs a short load through a real system with both
// APIs and checks that the report adds up.
func TestRunAgainstTheShop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	sys, err := app.Start(ctx, app.Config{
		RedisURL:    testenv.OwnRedis(t, "").URL(),
		DatabaseURL: testenv.Postgres(t),
		Seed:        true,
		// The load comes from one address.
		Gateway: gateway.Config{NewSessionsPerMinute: -1, EventStreamsPerIP: -1},
		Tuning: app.Tuning{
			Consumer: stream.Config{Block: 200 * time.Millisecond},
			Outbox:   outbox.Config{Poll: 50 * time.Millisecond},
		},
		Log: testenv.Logger(t),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = sys.Wait() })
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
