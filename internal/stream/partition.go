package stream

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// A logical stream, such as ORDERS_STREAM, can be spread over n
// partitions: n Redis streams, each with the same consumer groups, so
// that the work of a group is spread over n readers and, on a Redis
// Cluster, over the nodes. An event goes to the partition of its key (an
// order id, a user id) by a stable hash, so that the events of one key
// stay in order in one partition.
//
// With n = 1 the one partition is the logical stream itself, under its own
// name. With n > 1 partition p of "ORDERS_STREAM" is "ORDERS_STREAM:p".
// Partition names differ in their whole text, so a Redis Cluster hashes
// them to unrelated slots and spreads them over its nodes.
//
// The dead letters of a partition K go to "{K}:dlq" (DeadLetterStream):
// the hash tag {K} hashes like K itself, so that K and its dead-letter
// stream are in one slot and the MULTI that dead-letters an entry (XADD to
// the dead-letter stream, XACK on K) and the one that replays it stay on
// one node. Every other multi-key command of this package (the scripts in
// lease.go) names K alone.

// Partitions returns the keys of the n partitions of the logical stream,
// in partition order: the logical stream itself when n <= 1.
func Partitions(logical string, n int) []string {
	n = max(n, 1)
	keys := make([]string, n)
	for p := range n {
		keys[p] = PartitionKey(logical, p, n)
	}
	return keys
}

// PartitionKey returns the key of partition p (from 0) of the logical
// stream's n partitions: logical itself when n <= 1, else "logical:p".
func PartitionKey(logical string, p, n int) string {
	if n <= 1 {
		return logical
	}
	return logical + ":" + strconv.Itoa(p)
}

// PartitionOf returns the partition, from 0 to n-1, of events whose key is
// key: the 32-bit FNV-1a hash of key modulo n, the same in every process
// and every release. It is 0 when n <= 1.
func PartitionOf(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// DeadLetterStream returns the default dead-letter stream of stream (a
// partition, or an unpartitioned stream): "{stream}:dlq", in stream's
// Redis Cluster hash slot.
func DeadLetterStream(stream string) string { return "{" + stream + "}:dlq" }

// MaxPartitions bounds the partitions of a logical stream: each costs a
// reader per consumer group and process, with a connection of its own.
const MaxPartitions = 64

// validPartitions reports the problem with n partitions of logical, if any.
func validPartitions(logical string, n int) string {
	switch {
	case n < 1 || n > MaxPartitions:
		return "partitions must be between 1 and " + strconv.Itoa(MaxPartitions) + " (0 means 1), not " + strconv.Itoa(n)
	case strings.ContainsAny(logical, "{}"):
		// A brace would make the name, or its dead-letter stream's, a
		// different hash tag.
		return "stream name " + strconv.Quote(logical) + " must not contain { or }"
	}
	return ""
}

// KeyFunc returns the partition key of an event: the value whose events
// must stay in order, such as its order id. An empty key partitions the
// event by its id.
type KeyFunc func(Event) string

// partitioning is how a Publisher spreads events over partitions.
type partitioning struct {
	n   int
	key KeyFunc
}

// stream returns the partition of logical that e goes to.
func (p partitioning) stream(logical string, e *Event) string {
	if p.n <= 1 {
		return logical
	}
	k := ""
	if p.key != nil {
		k = p.key(*e)
	}
	if k == "" {
		k = e.ID
	}
	return PartitionKey(logical, PartitionOf(k, p.n), p.n)
}

// partitionMetrics reports a partition's counts under its logical
// stream's name, so that the metrics of a logical stream do not depend
// on how many partitions it has.
type partitionMetrics struct {
	m       Metrics
	logical string
}

func (p partitionMetrics) Processed(_, group string, n int, took time.Duration) {
	p.m.Processed(p.logical, group, n, took)
}
func (p partitionMetrics) Failed(_, group string, n int)  { p.m.Failed(p.logical, group, n) }
func (p partitionMetrics) Retried(_, group string, n int) { p.m.Retried(p.logical, group, n) }
func (p partitionMetrics) Reclaimed(_, group string, n int) {
	p.m.Reclaimed(p.logical, group, n)
}
func (p partitionMetrics) DeadLettered(_, group string, n int) {
	p.m.DeadLettered(p.logical, group, n)
}
