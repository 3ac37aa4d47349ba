package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"streamcart/internal/platform/web"
)

// latencyBuckets are the bounds, in seconds, of the latency histograms:
// from a millisecond (a cached read) to ten seconds (a timeout).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Unrouted is the route label of a request that no route served: one
// refused before routing (a URL with forbidden characters, a body too
// large for the gateway).
const Unrouted = "unrouted"

// HTTP observes the requests of a service's HTTP server as the histogram
// http_server_request_duration_seconds{method,route,status_code}. It is
// safe for concurrent use.
type HTTP struct {
	durations *prometheus.HistogramVec
	series    children[httpLabels, prometheus.Observer]
}

type httpLabels struct {
	method, route string
	status        int
}

// NewHTTP returns the HTTP metrics of r.
func (r *Registry) NewHTTP() *HTTP {
	h := &HTTP{
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_server_request_duration_seconds",
			Help:    "Time from a request's arrival at the service's handler to the end of its response, by method, route pattern and status code.",
			Buckets: latencyBuckets,
		}, []string{"method", "route", "status_code"}),
	}
	r.MustRegister(h.durations)
	return h
}

// Handler observes every request next serves. The route label is the
// http.ServeMux pattern that served it (web.NoteRoute, which next must
// use), Unrouted when none did; the method is one of the standard ones or
// "other", so that clients cannot make up label values.
func (h *HTTP) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r, note := web.WithRouteNote(r)
		rec := &statusWriter{ResponseWriter: w}
		defer func() {
			status := rec.status
			if status == 0 { // nothing written: net/http answers 200
				status = http.StatusOK
			}
			route := note.Pattern
			if route == "" {
				route = Unrouted
			}
			h.observer(method(r.Method), route, status).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

// observer returns the series of a label set, made at its first use.
func (h *HTTP) observer(method, route string, status int) prometheus.Observer {
	return h.series.get(httpLabels{method, route, status}, func() prometheus.Observer {
		return h.durations.WithLabelValues(method, route, strconv.Itoa(status))
	})
}

// method returns m if it is a standard method, else "other".
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and the deadlines, which
// the order event streams (Server-Sent Events) use.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
