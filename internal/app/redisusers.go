package app

import (
	"cmp"
	"fmt"

	"streamcart/internal/events"
	"streamcart/internal/gateway"
	"streamcart/internal/ops"
	"streamcart/internal/orderhistory"
	"streamcart/internal/platform/redisacl"
	"streamcart/internal/stream"
)

// Ops is the name of the Redis user of the operations page (/ops), which
// the gateway serves with a Redis client of its own.
const Ops = "ops"

// Scaler is the name of the Redis user of an autoscaler that watches the
// consumer groups' lag, such as KEDA's redis-streams scaler (deploy/k8s):
// it reads the streams' length and groups and the server's version, and
// nothing else.
const Scaler = "scaler"

// RedisUserNames lists the Redis ACL users of a deployment, one per
// service, one for the operations page and one for an autoscaler: each
// connects as its own user.
var RedisUserNames = append(append([]string{}, Services...), Ops, Scaler)

// RedisNames are the streams and key prefixes that the services use, from
// which the Redis users' rules derive. Start configures the services with
// the same names, so the two cannot disagree.
type RedisNames struct {
	OrdersStream, PaymentsStream, TransactionStream string
	// SnapshotsStream has the orders' snapshots, which orders appends and
	// the order history reads by range while it rebuilds.
	SnapshotsStream string
	// ProductsStream has the catalog's changes, which products appends
	// and orders follows into its copy of the prices.
	ProductsStream string
	// ProductsPrefix starts the products cache's keys, followed by ":".
	ProductsPrefix string
	// GatewayPrefix starts the keys of the gateway's session
	// revocations, carts and rate limits.
	GatewayPrefix string
	// HistoryPrefix starts the keys of the order history read model.
	HistoryPrefix string
	// OpsPrefix starts the keys of the operations page (its sign-in
	// counters).
	OpsPrefix string
	// StreamPartitions is how many partitions each of the four consumed
	// streams has (stream.Partitions): its keys are those of the grants.
	// The snapshots stream has one. 0 means 1.
	StreamPartitions int
}

// DefaultRedisNames returns the names every service uses by default.
func DefaultRedisNames() RedisNames {
	return RedisNames{
		OrdersStream:      events.OrdersStream,
		PaymentsStream:    events.PaymentsStream,
		TransactionStream: events.TransactionStream,
		SnapshotsStream:   events.OrderSnapshotsStream,
		ProductsStream:    events.ProductsStream,
		ProductsPrefix:    "products",
		GatewayPrefix:     gateway.DefaultKeyPrefix,
		HistoryPrefix:     orderhistory.DefaultKeyPrefix,
		OpsPrefix:         ops.DefaultKeyPrefix,
	}
}

// withDefaults returns n with its empty names (and partitions) replaced by
// DefaultRedisNames's.
func (n RedisNames) withDefaults() RedisNames {
	d := DefaultRedisNames()
	for _, f := range []struct{ field, def *string }{
		{&n.OrdersStream, &d.OrdersStream}, {&n.PaymentsStream, &d.PaymentsStream},
		{&n.TransactionStream, &d.TransactionStream}, {&n.SnapshotsStream, &d.SnapshotsStream},
		{&n.ProductsStream, &d.ProductsStream},
		{&n.ProductsPrefix, &d.ProductsPrefix}, {&n.GatewayPrefix, &d.GatewayPrefix},
		{&n.HistoryPrefix, &d.HistoryPrefix}, {&n.OpsPrefix, &d.OpsPrefix},
	} {
		*f.field = cmp.Or(*f.field, *f.def)
	}
	n.StreamPartitions = cmp.Or(n.StreamPartitions, 1)
	return n
}

// streams are the streams of the orders' life, which the order history
// follows and an autoscaler watches.
func (n RedisNames) streams() []string {
	return []string{n.OrdersStream, n.PaymentsStream, n.TransactionStream}
}

// opsStreams are the streams the operations page shows, whose dead letters
// it replays: every stream a consumer group reads.
func (n RedisNames) opsStreams() []string {
	return append(n.streams(), n.ProductsStream)
}

// partitions returns the keys of every partition of the logical streams.
func (n RedisNames) partitions(logical ...string) []string {
	var keys []string
	for _, s := range logical {
		keys = append(keys, stream.Partitions(s, n.StreamPartitions)...)
	}
	return keys
}

// RedisUsers returns the Redis ACL user of each name of RedisUserNames,
// with its password from passwords (by user name; every one is required).
// This is the one place that says who may do what in Redis:
//
//   - Only orders appends to ORDERS_STREAM and ORDER_SNAPSHOTS, only
//     payments to PAYMENTS_STREAM, only products to PRODUCTS_STREAM;
//     the gateway (LoginIdentityRecorded) and identity
//     (IdentityScored) append to TRANSACTION_STREAM. The operations page
//     appends to any of them, but only to replay a dead letter.
//   - A consumer may create its group on, read, claim, inspect and
//     acknowledge the streams it follows, and append to their dead-letter
//     streams ({<stream>}:dlq) and count them (for the metrics), nothing
//     else on them. Redis cannot tell one group from another: a
//     consumer's rules cover the other groups of the stream it reads too.
//   - With StreamPartitions > 1, each of the four consumed streams is its
//     partitions (<stream>:0 …): every rule on a stream names each of its
//     partitions, and each partition's dead-letter stream, by its exact
//     name; the snapshots stream is never partitioned.
//   - products, orderhistory and the gateway each use the keys under their
//     own prefix only, and only with the commands their code runs; orders
//     reads PRODUCTS_STREAM by range too (how far its copy of the prices
//     is behind: stream.Behind); the
//     order history publishes the order updates that the gateway listens
//     to (events.OrderUpdatesChannel), and reads ORDER_SNAPSHOTS by range
//     (it rebuilds from them) without a consumer group.
//   - The autoscaler only reads the three streams' length, groups and
//     pending entries.
//
// Redis ACLs cannot tell event types apart, so identity's rules also let
// it append a LoginIdentityRecorded, and the gateway's an IdentityScored;
// see docs/security.md.
func RedisUsers(n RedisNames, passwords map[string]string) ([]redisacl.User, error) {
	for _, name := range []string{n.OrdersStream, n.PaymentsStream, n.TransactionStream, n.SnapshotsStream, n.ProductsStream, n.ProductsPrefix, n.GatewayPrefix, n.HistoryPrefix, n.OpsPrefix} {
		if name == "" {
			return nil, fmt.Errorf("redis users: a stream name or key prefix is empty in %+v", n)
		}
	}
	if n.StreamPartitions < 0 || n.StreamPartitions > stream.MaxPartitions { // 0 means 1
		return nil, fmt.Errorf("redis users: %d stream partitions; want 1 to %d", n.StreamPartitions, stream.MaxPartitions)
	}
	consume := func(logical ...string) []redisacl.Grant {
		keys := literals(n.partitions(logical...))
		dlqs := literals(dlqs(n.partitions(logical...)))
		return []redisacl.Grant{
			// CLIENT UNBLOCK ends the consumer's own blocking read at
			// shutdown; Redis cannot limit it to the client's own
			// connections.
			// The consumer's leases and its removal of gone consumers
			// run as scripts (stream/lease.go) of XPENDING, XCLAIM,
			// XINFO CONSUMERS and XGROUP DELCONSUMER on the stream.
			// The metrics read the groups' state (stream.Inspect: XINFO
			// STREAM and GROUPS, XPENDING, the dead letters' XLEN).
			{Commands: []string{
				"xgroup|create", "xgroup|delconsumer", "xreadgroup", "xack", "xautoclaim", "xclaim", "xpending",
				"xinfo|consumers", "xinfo|groups", "xinfo|stream", "evalsha", "eval", "client|unblock",
			}, Keys: keys},
			{Commands: []string{"xadd", "xlen"}, Keys: dlqs},
		}
	}
	appendTo := func(logical ...string) redisacl.Grant {
		return redisacl.Grant{Commands: []string{"xadd"}, Keys: literals(n.partitions(logical...))}
	}
	updates := events.OrderUpdatesPrefix + "*" // the gateway subscribes to this very pattern (single Redis)

	// The keys of a service's own state: what sessions, carts, rate
	// limits and caches need of strings, counters and hashes, with their
	// expiry, partly in Lua scripts.
	state := []string{
		"evalsha", "eval", "get", "mget", "set", "del", "unlink", "exists",
		"incr", "incrby", "decr", "expire", "pexpire", "ttl", "pttl",
		"hget", "hgetall", "hmget", "hset", "hsetnx", "hdel", "hincrby",
	}
	grants := map[string][]redisacl.Grant{
		Products: {
			{
				Commands: []string{"get", "mget", "set", "incr", "evalsha", "eval"},
				Keys:     []string{redisacl.Prefix(n.ProductsPrefix + ":")},
			},
			appendTo(n.ProductsStream),
		},
		Payments: append(consume(n.OrdersStream), appendTo(n.PaymentsStream)),
		Orders: append(consume(n.PaymentsStream, n.ProductsStream), appendTo(n.OrdersStream),
			redisacl.Grant{Commands: []string{"xadd"}, Keys: []string{redisacl.Literal(n.SnapshotsStream)}},
			redisacl.Grant{Commands: []string{"xrange"}, Keys: literals(n.partitions(n.ProductsStream))}),
		Identity: append(consume(n.OrdersStream, n.TransactionStream), appendTo(n.TransactionStream)),
		History: append(consume(n.streams()...),
			// history rebuild replays the streams and the snapshots.
			redisacl.Grant{Commands: []string{"xrange"}, Keys: literals(append(n.partitions(n.streams()...), n.SnapshotsStream))},
			// The model, its completeness marker and the rebuild lock
			// (get, set, del, exists, pexpire, partly in scripts).
			redisacl.Grant{
				Commands: []string{
					"evalsha", "eval", "script|load", "hget", "hmget", "hset", "zadd", "zrevrange", "scan", "unlink",
					"get", "set", "del", "exists", "pexpire",
				},
				Keys: []string{redisacl.Prefix(n.HistoryPrefix)},
			},
			// PUBLISH, or SPUBLISH on a Redis Cluster, in the merge script.
			redisacl.Grant{Commands: []string{"publish", "spublish"}, Channels: []string{updates}},
		),
		Gateway: {
			appendTo(n.TransactionStream),
			{Commands: state, Keys: []string{redisacl.Prefix(n.GatewayPrefix)}}, // session revocations, carts, rate limits
			// Event stream slots, a sorted set per address; the session
			// revocations' sorted set.
			{Commands: []string{"zadd", "zcard", "zrem", "zremrangebyscore", "zrange"}, Keys: []string{redisacl.Prefix(n.GatewayPrefix)}},
			// The session revocations' channel.
			{Commands: []string{"subscribe", "unsubscribe", "publish"}, Channels: []string{redisacl.Prefix(n.GatewayPrefix)}},
			// The pattern on a single Redis, each bucket's channel on a cluster.
			{Commands: []string{"psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe"}, Channels: []string{updates}},
		},
		Ops: {
			{
				Commands: []string{"xinfo|stream", "xinfo|groups", "xinfo|consumers", "xpending", "xlen", "xrange", "xrevrange"},
				Keys:     append(literals(n.partitions(n.opsStreams()...)), literals(dlqs(n.partitions(n.opsStreams()...)))...),
			},
			// Replay appends a dead letter back to its stream and deletes it.
			appendTo(n.opsStreams()...),
			{Commands: []string{"xdel"}, Keys: literals(dlqs(n.partitions(n.opsStreams()...)))},
			{Commands: state, Keys: []string{redisacl.Prefix(n.OpsPrefix)}}, // sign-in counters
		},
		// KEDA's scaler checks INFO's redis_version before it reads a
		// group's lag (XINFO GROUPS, Redis 7), and falls back to XLEN for a
		// group not yet created; XPENDING is its pending-entries mode.
		Scaler: {{
			Commands: []string{"info", "xinfo|groups", "xlen", "xpending"},
			Keys:     literals(n.partitions(n.streams()...)),
		}},
	}
	users := make([]redisacl.User, 0, len(RedisUserNames))
	for _, name := range RedisUserNames {
		u := redisacl.User{Name: name, Password: passwords[name], Grants: grants[name]}
		if err := u.Validate(); err != nil {
			return nil, fmt.Errorf("redis user %s: %w", name, err)
		}
		users = append(users, u)
	}
	return users, nil
}

func literals(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = redisacl.Literal(s)
	}
	return out
}

func dlqs(streams []string) []string {
	out := make([]string, len(streams))
	for i, s := range streams {
		out[i] = stream.DeadLetterStream(s)
	}
	return out
}
