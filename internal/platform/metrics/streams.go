package metrics

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a stream entry, the values of the outcome label of
// streamcart_stream_messages_total.
const (
	Processed    = "processed"
	Failed       = "failed"
	Retried      = "retried"
	Reclaimed    = "reclaimed"
	DeadLettered = "dead_lettered"
)

// Streams counts the work of a service's stream consumers and reports the
// state of the consumer groups they read. It has the methods of
// stream.Metrics (set it as the consumers' Config.Metrics) and of the
// interface by which a consumer says which group it reads (Consuming).
// It is safe for concurrent use.
type Streams struct {
	messages *prometheus.CounterVec
	handle   *prometheus.HistogramVec
	lag      *prometheus.GaugeVec
	pending  *prometheus.GaugeVec
	oldest   *prometheus.GaugeVec
	dead     *prometheus.GaugeVec
	read     StreamReader

	groups children[streamGroup, *groupSeries]

	mu sync.Mutex
	// streams has each stream read, with its groups in this process.
	streams map[string][]string
}

// StreamReader reads the state of stream and its consumer groups from
// Redis (stream.Inspect does).
type StreamReader func(ctx context.Context, stream string) (StreamState, error)

// StreamState is the state of a stream that a StreamReader reads.
type StreamState struct {
	// DeadLetters is the length of the stream's dead-letter stream.
	DeadLetters int64
	Groups      []GroupState
}

// GroupState is the state of one consumer group of a stream.
type GroupState struct {
	Name string
	// Lag is how many entries the group has not read yet; -1 when Redis
	// cannot tell.
	Lag int64
	// Pending is how many entries were read and not acknowledged yet.
	Pending int64
	// OldestPending is the age of the oldest pending entry (since it was
	// appended); 0 when none is pending.
	OldestPending time.Duration
}

type streamGroup struct{ stream, group string }

// groupSeries are the series of one stream and group, made once.
type groupSeries struct {
	processed, failed, retried, reclaimed, deadLettered prometheus.Counter
	handle                                              prometheus.Observer
}

// NewStreams returns the stream metrics of r. Its groups' state is read
// with read every refresh interval while r runs (Registry.Run).
func (r *Registry) NewStreams(read StreamReader) *Streams {
	group := []string{"stream", "group"}
	s := &Streams{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamcart_stream_messages_total",
			Help: "Stream entries by what became of them in this process's consumers: processed (handled and acknowledged), failed (a delivery whose handler failed), retried (delivered again after a failure), reclaimed (taken over from a consumer that died), dead_lettered.",
		}, []string{"stream", "group", "outcome"}),
		handle: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamcart_stream_handle_seconds",
			Help:    "Time the handler took for one batch of entries that were then acknowledged.",
			Buckets: latencyBuckets,
		}, group),
		lag: gaugeVec("streamcart_stream_lag",
			"Entries of the stream that the group has not read yet (NaN when Redis cannot tell), read from Redis every few seconds.",
			group...),
		pending: gaugeVec("streamcart_stream_pending",
			"Entries the group read and has not acknowledged yet, read from Redis every few seconds.", group...),
		oldest: gaugeVec("streamcart_stream_oldest_pending_seconds",
			"Age (since it was appended) of the group's oldest pending entry; 0 when none is pending.", group...),
		dead: gaugeVec("streamcart_stream_dead_letters",
			"Entries in the stream's dead-letter stream ({<stream>}:dlq), read from Redis every few seconds.", "stream"),
		read:    read,
		streams: map[string][]string{},
	}
	r.MustRegister(s.messages, s.handle, s.lag, s.pending, s.oldest, s.dead)
	r.refresh("streams", s.refresh)
	return s
}

// Consuming says that a consumer of this process reads stream in group:
// its series start at zero and its group's state is read from Redis.
func (s *Streams) Consuming(stream, group string) {
	s.series(stream, group)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.streams[stream] {
		if g == group {
			return
		}
	}
	s.streams[stream] = append(s.streams[stream], group)
}

// Processed counts n entries handled and acknowledged, and observes took,
// the handler time of their batch.
func (s *Streams) Processed(stream, group string, n int, took time.Duration) {
	g := s.series(stream, group)
	g.processed.Add(float64(n))
	g.handle.Observe(took.Seconds())
}

// Failed counts n deliveries whose handler failed.
func (s *Streams) Failed(stream, group string, n int) { s.series(stream, group).failed.Add(float64(n)) }

// Retried counts n entries delivered again after a failure.
func (s *Streams) Retried(stream, group string, n int) {
	s.series(stream, group).retried.Add(float64(n))
}

// Reclaimed counts n entries taken over from other consumers.
func (s *Streams) Reclaimed(stream, group string, n int) {
	s.series(stream, group).reclaimed.Add(float64(n))
}

// DeadLettered counts n entries moved to the dead-letter stream.
func (s *Streams) DeadLettered(stream, group string, n int) {
	s.series(stream, group).deadLettered.Add(float64(n))
}

// series returns the series of stream and group, made at their first use.
func (s *Streams) series(stream, group string) *groupSeries {
	return s.groups.get(streamGroup{stream, group}, func() *groupSeries {
		outcome := func(o string) prometheus.Counter { return s.messages.WithLabelValues(stream, group, o) }
		return &groupSeries{
			processed: outcome(Processed), failed: outcome(Failed), retried: outcome(Retried),
			reclaimed: outcome(Reclaimed), deadLettered: outcome(DeadLettered),
			handle: s.handle.WithLabelValues(stream, group),
		}
	})
}

// refresh reads the state of every stream consumed here and sets the
// gauges of the groups consumed here.
func (s *Streams) refresh(ctx context.Context) error {
	s.mu.Lock()
	streams := make(map[string][]string, len(s.streams))
	for name, groups := range s.streams {
		streams[name] = append([]string(nil), groups...)
	}
	s.mu.Unlock()
	for name, groups := range streams {
		st, err := s.read(ctx, name)
		if err != nil {
			return err
		}
		s.dead.WithLabelValues(name).Set(float64(st.DeadLetters))
		for _, group := range groups {
			// A group missing from Redis (it lost its data) is made
			// again by its consumer: until then it has read nothing.
			g := GroupState{Name: group, Lag: -1}
			for _, found := range st.Groups {
				if found.Name == group {
					g = found
				}
			}
			lag := float64(g.Lag)
			if g.Lag < 0 {
				lag = math.NaN()
			}
			s.lag.WithLabelValues(name, group).Set(lag)
			s.pending.WithLabelValues(name, group).Set(float64(g.Pending))
			s.oldest.WithLabelValues(name, group).Set(g.OldestPending.Seconds())
		}
	}
	return nil
}
