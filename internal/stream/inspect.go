package stream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Dead-letter fields, added to the original entry's fields.
const (
	dlqPrefix       = "dlq."
	dlqError        = "dlq.error"
	dlqAttempts     = "dlq.attempts"
	dlqOriginStream = "dlq.originStream"
	dlqOriginID     = "dlq.originId"
	dlqGroup        = "dlq.group"
	dlqConsumer     = "dlq.consumer"
	dlqTime         = "dlq.time"
)

// StreamInfo describes a stream and its consumer groups.
type StreamInfo struct {
	Name   string
	Length int64
	// FirstID and LastID are the oldest and newest entries' ids; LastID
	// is "0-0" for a stream never written to.
	FirstID, LastID string
	Groups          []GroupInfo
	// DeadLetters is the length of the stream's default dead-letter stream.
	DeadLetters int64
}

// GroupInfo describes one consumer group of a stream.
type GroupInfo struct {
	Name string
	// Lag is how many entries the group has not yet read; -1 when Redis
	// cannot tell (after deletions in the unread range).
	Lag int64
	// Pending is how many entries were read but not yet acknowledged.
	Pending         int64
	LastDeliveredID string
	// OldestPendingID is the first pending entry ("" when none) and
	// OldestPendingAge how long ago it was appended.
	OldestPendingID  string
	OldestPendingAge time.Duration
	Consumers        []ConsumerInfo
}

// ConsumerInfo describes one consumer of a group. Consumers that are gone
// (idle for Config.RemoveIdleAfter with nothing pending) are removed from
// the group by the live ones, so the list shows live consumers and dead
// ones whose entries are not yet taken over.
type ConsumerInfo struct {
	Name    string
	Pending int64
	// Idle is the time since the consumer's last attempted interaction.
	Idle time.Duration
}

// Inspect returns the state of stream, its groups and consumers. A stream
// that does not exist yet is reported empty, not as an error.
func Inspect(ctx context.Context, rdb redis.Cmdable, stream string) (StreamInfo, error) {
	info := StreamInfo{Name: stream, LastID: "0-0"}
	si, err := rdb.XInfoStream(ctx, stream).Result()
	switch {
	case err != nil && strings.Contains(err.Error(), "no such key"):
		return info, nil
	case err != nil:
		return info, fmt.Errorf("inspect %s: %w", stream, err)
	}
	info.Length, info.LastID = si.Length, si.LastGeneratedID
	info.FirstID = si.FirstEntry.ID
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return info, fmt.Errorf("inspect %s groups: %w", stream, err)
	}
	for _, g := range groups {
		gi := GroupInfo{Name: g.Name, Lag: g.Lag, Pending: g.Pending, LastDeliveredID: g.LastDeliveredID}
		if g.Pending > 0 {
			p, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: g.Name, Start: "-", End: "+", Count: 1}).Result()
			if err != nil {
				return info, fmt.Errorf("inspect %s/%s pending: %w", stream, g.Name, err)
			}
			if len(p) == 1 {
				gi.OldestPendingID = p[0].ID
				gi.OldestPendingAge = time.Since(idTime(p[0].ID))
			}
		}
		consumers, err := rdb.XInfoConsumers(ctx, stream, g.Name).Result()
		if err != nil {
			return info, fmt.Errorf("inspect %s/%s consumers: %w", stream, g.Name, err)
		}
		for _, c := range consumers {
			gi.Consumers = append(gi.Consumers, ConsumerInfo{Name: c.Name, Pending: c.Pending, Idle: c.Idle})
		}
		info.Groups = append(info.Groups, gi)
	}
	info.DeadLetters, err = rdb.XLen(ctx, DeadLetterStream(stream)).Result()
	if err != nil {
		return info, fmt.Errorf("inspect %s dead letters: %w", stream, err)
	}
	return info, nil
}

// Behind returns how long ago the oldest entry of stream that group has
// not finished with (not read yet, or read and not acknowledged) was
// appended: 0 when the group has finished every entry. A group that does
// not exist yet has finished none; a stream that does not exist has no
// entries. Caught up, it costs one command (XINFO GROUPS). An entry
// handled stays pending until its ack goes out, up to Config.AckDelay and
// a quarter later, so a group that keeps up shows that much.
func Behind(ctx context.Context, rdb redis.Cmdable, stream, group string) (time.Duration, error) {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	switch {
	case err != nil && strings.Contains(err.Error(), "no such key"):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("behind %s/%s: %w", stream, group, err)
	}
	unread := "-" // a group not created yet has read nothing
	var oldest string
	for _, g := range groups {
		if g.Name != group {
			continue
		}
		if g.Lag == 0 && g.Pending == 0 {
			return 0, nil
		}
		unread = "(" + g.LastDeliveredID
		if g.Lag == 0 {
			unread = ""
		}
		if g.Pending > 0 {
			p, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: group, Start: "-", End: "+", Count: 1}).Result()
			if err != nil {
				return 0, fmt.Errorf("behind %s/%s: %w", stream, group, err)
			}
			if len(p) == 1 {
				oldest = p[0].ID
			}
		}
	}
	if unread != "" && oldest == "" {
		// The first entry not read yet; a pending one, when there is one,
		// is older still.
		msgs, err := rdb.XRangeN(ctx, stream, unread, "+", 1).Result()
		if err != nil {
			return 0, fmt.Errorf("behind %s/%s: %w", stream, group, err)
		}
		if len(msgs) == 1 {
			oldest = msgs[0].ID
		}
	}
	if oldest == "" {
		return 0, nil
	}
	return max(time.Since(idTime(oldest)), 0), nil
}

// DeadLetter is an entry of a dead-letter stream.
type DeadLetter struct {
	// ID is the entry's id in the dead-letter stream.
	ID           string
	OriginStream string
	OriginID     string
	Group        string
	Consumer     string
	Error        string
	Attempts     int64
	Time         time.Time
	// Fields are the original entry's fields, envelope included.
	Fields map[string]string
}

// DeadLetters returns up to limit entries of the dead-letter stream dlq,
// newest first.
func DeadLetters(ctx context.Context, rdb redis.Cmdable, dlq string, limit int64) ([]DeadLetter, error) {
	entries, err := rdb.XRevRangeN(ctx, dlq, "+", "-", limit).Result()
	if err != nil {
		return nil, fmt.Errorf("read dead letters %s: %w", dlq, err)
	}
	out := make([]DeadLetter, 0, len(entries))
	for _, xm := range entries {
		out = append(out, parseDeadLetter(xm))
	}
	return out, nil
}

func parseDeadLetter(xm redis.XMessage) DeadLetter {
	d := DeadLetter{ID: xm.ID, Fields: make(map[string]string, len(xm.Values))}
	for k, v := range xm.Values {
		s, _ := v.(string)
		switch k {
		case dlqError:
			d.Error = s
		case dlqAttempts:
			d.Attempts, _ = strconv.ParseInt(s, 10, 64)
		case dlqOriginStream:
			d.OriginStream = s
		case dlqOriginID:
			d.OriginID = s
		case dlqGroup:
			d.Group = s
		case dlqConsumer:
			d.Consumer = s
		case dlqTime:
			d.Time, _ = time.Parse(time.RFC3339Nano, s)
		default:
			d.Fields[k] = s
		}
	}
	return d
}

// ErrNotFound is returned by Replay for an id not in the dead-letter stream.
var ErrNotFound = errors.New("dead letter not found")

// Replay appends the dead letter id of stream dlq back to its origin
// stream, as a new entry with the original fields (so the same event id),
// and deletes it from dlq, atomically. dlq must be the origin stream's
// DeadLetterStream: an entry claiming another origin is refused. Every group of the origin stream
// sees it again; idempotent handlers make that harmless for the groups
// that had handled it. It returns the new entry's id.
func Replay(ctx context.Context, rdb redis.Cmdable, dlq, id string) (string, error) {
	entries, err := rdb.XRange(ctx, dlq, id, id).Result()
	if err != nil {
		return "", fmt.Errorf("replay %s %s: %w", dlq, id, err)
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("replay %s %s: %w", dlq, id, ErrNotFound)
	}
	d := parseDeadLetter(entries[0])
	if d.OriginStream == "" {
		return "", fmt.Errorf("replay %s %s: entry has no origin stream", dlq, id)
	}
	// Whoever may dead-letter entries of one stream may write any fields
	// into its dead-letter stream: the origin an entry claims is trusted
	// only when it is the stream whose dead-letter stream this is, so
	// that a replay never appends to a stream its writer could not.
	if DeadLetterStream(d.OriginStream) != dlq {
		return "", fmt.Errorf("replay %s %s: entry claims origin stream %q, whose dead letters go elsewhere", dlq, id, d.OriginStream)
	}
	vals := make([]any, 0, 2*len(d.Fields))
	for k, v := range maps.All(d.Fields) {
		vals = append(vals, k, v)
	}
	var add *redis.StringCmd
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		add = p.XAdd(ctx, &redis.XAddArgs{Stream: d.OriginStream, Values: vals})
		p.XDel(ctx, dlq, id)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("replay %s %s: %w", dlq, id, err)
	}
	return add.Val(), nil
}

// idTime returns the time in a stream entry id.
func idTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n)
}
