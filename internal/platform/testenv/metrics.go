package testenv

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are the metric families of a scrape in the Prometheus text
// format, by name.
type Metrics map[string]*dto.MetricFamily

// ParseMetrics parses text, a scrape in the Prometheus text format,
// failing the test when it is not one.
func ParseMetrics(tb testing.TB, text string) Metrics {
	tb.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		tb.Fatalf("not the Prometheus text format: %v\n%.2000s", err, text)
	}
	return families
}

// ScrapeMetrics gets url, a /metrics endpoint, and parses its answer;
// ok is false when it does not answer 200.
func ScrapeMetrics(tb testing.TB, url string) (Metrics, bool) {
	tb.Helper()
	resp, body := Do(tb, http.DefaultClient, Request{Method: "GET", URL: url})
	if resp.StatusCode != http.StatusOK {
		return nil, false
	}
	return ParseMetrics(tb, string(body)), true
}

// Value returns the value of the first series of the family name whose
// labels include labels (name, value pairs): a counter's or gauge's
// value, a histogram's count of observations. ok is false when there is
// no such series.
func (m Metrics) Value(name string, labels ...string) (v float64, ok bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
series:
	for _, s := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue series
			}
		}
		switch {
		case s.Counter != nil:
			return s.Counter.GetValue(), true
		case s.Gauge != nil:
			return s.Gauge.GetValue(), true
		case s.Histogram != nil:
			return float64(s.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}
