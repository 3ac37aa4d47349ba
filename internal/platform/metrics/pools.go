package metrics

import (
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// WatchPgxPool reports the statistics of pool, read at each scrape, as
// streamcart_pgxpool_*.
func (r *Registry) WatchPgxPool(pool *pgxpool.Pool) { r.MustRegister(pgxCollector{pool}) }

// WatchRedis reports the statistics of the connection pool of rdb, the
// client of Redis user user, read at each scrape, as
// streamcart_redis_pool_*{user}. Call it once per client.
func (r *Registry) WatchRedis(user string, rdb redis.UniversalClient) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.redis == nil {
		r.redis = &redisCollector{}
		r.MustRegister(r.redis)
	}
	r.redis.add(user, rdb)
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	pgxAcquired      = desc("streamcart_pgxpool_acquired_conns", "PostgreSQL connections in use.")
	pgxIdle          = desc("streamcart_pgxpool_idle_conns", "Idle PostgreSQL connections in the pool.")
	pgxTotal         = desc("streamcart_pgxpool_total_conns", "PostgreSQL connections in the pool (in use, idle and being made).")
	pgxMax           = desc("streamcart_pgxpool_max_conns", "Most PostgreSQL connections the pool may hold.")
	pgxAcquires      = desc("streamcart_pgxpool_acquires_total", "Connections taken from the pool.")
	pgxEmptyAcquires = desc("streamcart_pgxpool_empty_acquires_total", "Connections taken after waiting, the pool having none idle.")
	pgxCanceled      = desc("streamcart_pgxpool_canceled_acquires_total", "Waits for a connection that ended with their context.")
	pgxAcquireTime   = desc("streamcart_pgxpool_acquire_seconds_total", "Time spent taking connections from the pool.")
	pgxNewConns      = desc("streamcart_pgxpool_new_conns_total", "PostgreSQL connections opened.")

	redisHits     = desc("streamcart_redis_pool_hits_total", "Redis commands that found an idle connection.", "user")
	redisMisses   = desc("streamcart_redis_pool_misses_total", "Redis commands that found no idle connection.", "user")
	redisTimeouts = desc("streamcart_redis_pool_timeouts_total", "Waits for a Redis connection that timed out.", "user")
	redisTotal    = desc("streamcart_redis_pool_total_conns", "Redis connections in the pool.", "user")
	redisIdle     = desc("streamcart_redis_pool_idle_conns", "Idle Redis connections in the pool.", "user")
	redisStale    = desc("streamcart_redis_pool_stale_conns_total", "Redis connections closed as stale.", "user")
)

type pgxCollector struct{ pool *pgxpool.Pool }

func (c pgxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pgxAcquired, pgxIdle, pgxTotal, pgxMax, pgxAcquires, pgxEmptyAcquires, pgxCanceled, pgxAcquireTime, pgxNewConns} {
		ch <- d
	}
}

func (c pgxCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(pgxAcquired, float64(s.AcquiredConns()))
	gauge(pgxIdle, float64(s.IdleConns()))
	gauge(pgxTotal, float64(s.TotalConns()))
	gauge(pgxMax, float64(s.MaxConns()))
	counter(pgxAcquires, float64(s.AcquireCount()))
	counter(pgxEmptyAcquires, float64(s.EmptyAcquireCount()))
	counter(pgxCanceled, float64(s.CanceledAcquireCount()))
	counter(pgxAcquireTime, s.AcquireDuration().Seconds())
	counter(pgxNewConns, float64(s.NewConnsCount()))
}

// redisCollector reports the pools of a service's Redis clients.
type redisCollector struct {
	mu      sync.Mutex
	clients []redisClient
}

type redisClient struct {
	user string
	rdb  redis.UniversalClient
}

func (c *redisCollector) add(user string, rdb redis.UniversalClient) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clients = append(c.clients, redisClient{user, rdb})
}

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{redisHits, redisMisses, redisTimeouts, redisTotal, redisIdle, redisStale} {
		ch <- d
	}
}

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	clients := c.clients
	c.mu.Unlock()
	for _, cl := range clients {
		s := cl.rdb.PoolStats()
		metric := func(d *prometheus.Desc, t prometheus.ValueType, v uint32) {
			ch <- prometheus.MustNewConstMetric(d, t, float64(v), cl.user)
		}
		metric(redisHits, prometheus.CounterValue, s.Hits)
		metric(redisMisses, prometheus.CounterValue, s.Misses)
		metric(redisTimeouts, prometheus.CounterValue, s.Timeouts)
		metric(redisTotal, prometheus.GaugeValue, s.TotalConns)
		metric(redisIdle, prometheus.GaugeValue, s.IdleConns)
		metric(redisStale, prometheus.CounterValue, s.StaleConns)
	}
}
