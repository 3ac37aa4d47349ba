package loadgen_test

// The floor: what the cheapest request of each kind the system makes costs
// in CPU on this machine, client, server and kernel together. A shopper's
// visit is a count of such requests; docs/performance.md multiplies the two
// to show the least CPU an order can cost, whatever the code around them.
//
//	go test -run '^$' -bench Floor -benchtime 3s ./internal/loadgen
//
// Each benchmark reports cpu-µs/op: this process's CPU time plus that of
// the server processes (Redis, or the PostgreSQL postmaster and its
// backends), divided by the requests made, from 16 goroutines per core.

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
)

// procCPU is the CPU time so far of pid and, with children, of the
// processes whose parent it is.
func procCPU(tb testing.TB, pid int, children bool) time.Duration {
	tb.Helper()
	var ticks int64
	entries, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		// Fields after "pid (comm) ": state ppid ... utime(12th) stime(13th).
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ppid, _ := strconv.Atoi(f[1])
		if n != pid && (!children || ppid != pid) {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += utime + stime
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// floor runs op in parallel b.N times and reports the CPU per op of this
// process plus serverCPU's.
func floor(b *testing.B, serverCPU func() time.Duration, op func(ctx context.Context) error) {
	ctx := b.Context()
	b.SetParallelism(16)
	self, server := testenv.SelfCPU(), serverCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	used := testenv.SelfCPU() - self + serverCPU() - server
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkFloor starts its servers once and measures each kind of request
// in a sub-benchmark.
func BenchmarkFloor(b *testing.B) {
	redisSrv := testenv.OwnRedis(b, "everysec")
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr(), PoolSize: 256})
	b.Cleanup(func() { rdb.Close() })
	redisCPU := func() time.Duration { return procCPU(b, redisSrv.PID(), false) }

	pgSrv := testenv.OwnPostgres(b)
	cfg, err := pgxpool.ParseConfig(pgSrv.URL("postgres"))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(b.Context(), `CREATE TABLE floor (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	pgCPU := func() time.Duration { return procCPU(b, pgSrv.PID(), true) }

	// One HTTP/1.1 request over a kept-alive loopback connection, with a
	// small JSON answer: net/http on both sides.
	b.Run("HTTP", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		answer := []byte(`{"orderId":"0194b3a2c4d57e8f9a0b1c2d3e4f5a6b","status":1,"statusName":"CREATED"}`)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
		})}
		go srv.Serve(ln) //nolint:errcheck // ends with Close
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
		defer client.CloseIdleConnections()
		url := "http://" + ln.Addr().String() + "/orders"
		floor(b, func() time.Duration { return 0 }, func(ctx context.Context) error {
			return web.Probe(ctx, client, url) // a GET, its answer read, its status checked
		})
	})
	// One Redis round trip: a GET of a missing key.
	b.Run("RedisGet", func(b *testing.B) {
		floor(b, redisCPU, func(ctx context.Context) error {
			if err := rdb.Get(ctx, "floor:missing").Err(); err != redis.Nil {
				return err
			}
			return nil
		})
	})
	// One XADD of a four-field entry to a capped stream, with AOF
	// everysec as streamcart dev runs Redis.
	b.Run("RedisXAdd", func(b *testing.B) {
		floor(b, redisCPU, func(ctx context.Context) error {
			return rdb.XAdd(ctx, &redis.XAddArgs{
				Stream: "floor", MaxLen: 10000, Approx: true,
				Values: []any{"orderId", "0194b3a2c4d57e8f", "orderAmount", "129.99", "userId", "0194b3a2c4d5", "v", "1"},
			}).Err()
		})
	})
	// One PostgreSQL round trip of a prepared statement that touches no
	// table.
	b.Run("PostgresSelect", func(b *testing.B) {
		floor(b, pgCPU, func(ctx context.Context) error {
			var one int
			return pool.QueryRow(ctx, `SELECT 1`).Scan(&one)
		})
	})
	// One INSERT in its own transaction, committed durably
	// (synchronous_commit on, as streamcart dev runs PostgreSQL).
	b.Run("PostgresCommit", func(b *testing.B) {
		floor(b, pgCPU, func(ctx context.Context) error {
			_, err := pool.Exec(ctx, `INSERT INTO floor (v) VALUES ($1)`, "x")
			return err
		})
	})
}
