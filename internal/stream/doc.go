// Package stream is streamcart's messaging layer over Redis Streams.
//
// A Publisher appends events (XADD) in a small envelope: event id, type,
// schema version, time and an optional W3C traceparent, followed by the
// payload's flat string fields, so an entry stays readable with redis-cli:
//
//	XADD ORDERS_STREAM * eventId 0191… eventType OrderPlaced eventVersion 1
//	     eventTime 2026-11-25T21:40:00Z orderId 0191… orderAmount 39.99 userId u-1
//
// The traceparent joins the entry's consumers to the trace of what
// published it. With Config.TracerProvider a Consumer records a span per
// entry handled ("process STREAM"), the child of the entry's traceparent,
// and hands the handler the entry with its traceparent replaced by that
// span's, so that the events a handler answers with continue the trace; a
// batch of several entries gets a span of its own besides ("process
// STREAM batch"), linked to theirs, which the handler's context holds.
// Publish, given a context with a span, records the append as a span
// ("publish STREAM") and writes its traceparent. Without a provider, and
// without spans in the contexts, none of this happens.
//
// A Consumer reads one stream in one consumer group and gives the entries to
// a handler. Its guarantees, all against a real Redis:
//
//   - At-least-once: an entry is acknowledged (XACK) only after its handler
//     returned nil.
//   - Acks batched over time: the acks of the batches handled wait, held
//     by the consumer, and go out together in one XACK once the oldest has
//     waited Config.AckDelay (50ms), in the same round trip as the next
//     read, or by themselves a quarter of an AckDelay later when the
//     reader is blocked (a quiet stream); at once when Config.Count are
//     waiting; and before Run
//     returns. A failed XACK is sent again after a backoff, never dropped;
//     after a crash the entries waiting are delivered again, as any pending
//     entry. Dead-lettering acknowledges at once, in its MULTI.
//   - Reads sized by the backlog: a read asks for Config.MinCount entries
//     while the consumer keeps up, and twice as many after each full read,
//     up to Config.Count, while it is behind; never more than its workers
//     handle in a quarter of the handler (and shutdown) timeout. A read
//     never waits for a count to fill.
//   - Retry: a failed entry is retried with exponential backoff by the same
//     consumer (XCLAIM to itself, which counts a delivery).
//   - Retry without livelock: an Unavailable error (an outage) or a Defer
//     (too early) is retried without counting a delivery; a retried batch is
//     never larger than Config.Count, and a batch that ran out of time is
//     retried in halves.
//   - Leases and reclaim: a consumer renews the entries it holds every
//     Config.MinIdle/4, so live work is never taken over; entries left
//     pending by a consumer that died are claimed with XAUTOCLAIM once they
//     have been idle for Config.MinIdle (about 5s after the death, with the
//     defaults); entries that were trimmed away meanwhile are reported and
//     dropped, never looped on. Consumers gone for Config.RemoveIdleAfter
//     with nothing pending are removed from the group.
//   - Dead letters: after Config.MaxDeliveries deliveries, or at once when the
//     entry cannot be decoded or the handler returns a Permanent error, the
//     entry is copied to the dead-letter stream (by default "{<stream>}:dlq", in the
//     stream's Redis Cluster slot)
//     with the error, the attempts and its origin, and acknowledged, in one
//     MULTI. Replay puts it back on its origin stream.
//   - Robustness: panics in handlers are recovered and count as errors; the
//     consumer reconnects with backoff when Redis is unreachable and
//     recreates its group on NOGROUP (stream deleted, Redis restarted empty).
//   - Shutdown: when Run's context is cancelled the blocked read is released
//     at once (CLIENT UNBLOCK), in-flight handlers finish within
//     Config.ShutdownTimeout, and what succeeded is acknowledged.
//
// # Partitions
//
// A logical stream can be spread over several Redis streams, its
// partitions (Partitions, PartitionKey): a Publisher made Partitioned
// appends each event to the partition of its key (PartitionOf), so that
// the events of one key stay in order, and a Consumer with
// Config.Partitions reads every partition, each with its own reader,
// reclaim, retries and dead-letter stream, behind the one Consumer.
// Replicas of a consumer each read every partition and share each
// partition's entries through the group, as they share an unpartitioned
// stream's.
//
// # Idempotency is the handler's job
//
// Delivery is at-least-once: after a crash, a reclaim or a replay a handler
// can see an event again. Handlers in streamcart make that harmless by
// recording the event id in the same database transaction as the effect,
//
//	INSERT INTO processed_events (group_name, event_id) VALUES ($1, $2)
//	ON CONFLICT DO NOTHING
//
// and skipping the effect when the insert affected no row, or by making the
// effect itself an upsert that only moves state forward.
package stream
