package stream

import "time"

// Metrics receives a Consumer's counts. Implementations must be safe for
// concurrent use. The services export them to Prometheus (package
// platform/metrics); without Config.Metrics the counts are dropped.
type Metrics interface {
	// Processed counts n entries handled, whose acknowledgement is on its
	// way (it may wait up to Config.AckDelay and a quarter, see Config);
	// took is the handler time of their batch.
	Processed(stream, group string, n int, took time.Duration)
	// Failed counts handler failures, each of which leads to a retry or a
	// dead letter.
	Failed(stream, group string, n int)
	// Retried counts entries delivered again after a failure.
	Retried(stream, group string, n int)
	// Reclaimed counts entries taken over from other consumers.
	Reclaimed(stream, group string, n int)
	// DeadLettered counts entries moved to the dead-letter stream.
	DeadLettered(stream, group string, n int)
}

// GroupMetrics is Metrics that also wants to know which consumer groups
// its consumers read, before they handle anything: NewConsumer and
// NewBatchConsumer call Consuming with their stream and group, so that an
// exporter can report the group's state (lag, pending entries) even while
// nothing is handled.
type GroupMetrics interface {
	Metrics
	Consuming(stream, group string)
}

type nopMetrics struct{}

func (nopMetrics) Processed(string, string, int, time.Duration) {}
func (nopMetrics) Failed(string, string, int)                   {}
func (nopMetrics) Retried(string, string, int)                  {}
func (nopMetrics) Reclaimed(string, string, int)                {}
func (nopMetrics) DeadLettered(string, string, int)             {}
