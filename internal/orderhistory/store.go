package orderhistory

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/platform/redisclient"
	"streamcart/internal/stream"
)

//go:embed merge.lua
var mergeSource string

// mergeScript is run with EVALSHA; it is loaded on the first NOSCRIPT, so
// that a Redis restart or SCRIPT FLUSH costs one extra round trip.
var mergeScript = redis.NewScript(mergeSource)

// timeLayout is how the hash stores times: UTC with milliseconds, always
// the same width, so that the script can compare them as strings.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Who lastUpdatedBy names for events that users do not make themselves.
const (
	byPayments = "payments"
	byIdentity = "identity"
)

// Event kinds, as merge.lua knows them.
const (
	kindPlaced = "placed"
	kindPaid   = "paid"
	kindScored = "scored"
)

// mergeCall is one run of the merge script.
type mergeCall struct {
	orderID, userID string
	keys            []string
	args            []any
	// placed is the OrderPlaced the call merges, which the orders
	// service must have as it says (ordercheck) before it is merged; nil
	// for other events.
	placed *events.Placed
}

// mergeChunk is the most calls one run of the merge script applies, so
// that a long rebuild does not hold Redis for long in one script.
const mergeChunk = 64

// merge runs calls in one pipeline, one round trip, as few runs of the
// merge script as can hold them: one per mergeChunk calls, and on a Redis
// Cluster one per hash slot, since a script's keys must share a slot. It
// reports how many records changed. Its errors are the first call's that
// failed: a permanent one when an event contradicts the record's user, an
// unavailable one when Redis could not be reached. As every call is
// idempotent, the caller may run all of them again after an error.
func (s *Service) merge(ctx context.Context, calls []mergeCall) (changed int, err error) {
	cluster := redisclient.IsCluster(s.rdb)
	runs := mergeRuns(calls, cluster)
	// On a cluster the script publishes to the shard of its slot
	// (events.OrderUpdatesChannel is in the model's slot), not to every
	// node.
	publish := "PUBLISH"
	if cluster {
		publish = "SPUBLISH"
	}
	cmds := make([]*redis.Cmd, len(runs))
	for attempt := 0; ; attempt++ {
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, run := range runs {
				var keys []string
				args := []any{publish, events.StatusPaymentSuccess.Rank()}
				for _, c := range run {
					keys = append(keys, calls[c].keys...)
					args = append(append(args, len(calls[c].args)), calls[c].args...)
				}
				cmds[i] = mergeScript.EvalSha(ctx, p, keys, args...)
			}
			return nil
		})
		if err == nil || attempt > 0 || !anyNoScript(cmds) {
			break
		}
		if err := mergeScript.Load(ctx, s.rdb).Err(); err != nil {
			return 0, classify(fmt.Errorf("load merge script: %w", err))
		}
	}
	results := make([]any, len(calls))
	for i, run := range runs {
		res, err := cmds[i].Slice()
		if err != nil {
			return 0, classify(fmt.Errorf("merge events into orders %s…: %w", calls[run[0]].orderID, err))
		}
		if len(res) != len(run) {
			return 0, fmt.Errorf("merge events: %d results for %d events", len(res), len(run))
		}
		for j, c := range run {
			results[c] = res[j]
		}
	}
	for i, r := range results {
		switch r := r.(type) {
		case int64:
			changed += int(r)
		case string:
			return 0, refused(calls[i].orderID, r)
		default:
			return 0, fmt.Errorf("merge event into order %s: unexpected result %v", calls[i].orderID, r)
		}
	}
	return changed, nil
}

// mergeRuns splits calls into runs of the merge script: the indexes in
// calls of each run's calls, in order. On a cluster a run's calls all
// have their keys in one slot; a call whose two keys do not share one
// runs alone (and Redis refuses it, as it would any script that crosses
// slots).
func mergeRuns(calls []mergeCall, cluster bool) [][]int {
	var runs [][]int
	open := map[int]int{} // slot (or 0) → index in runs of its run with room
	for i, c := range calls {
		slot := 0
		if cluster {
			slot = redisclient.Slot(c.keys[0])
			for _, k := range c.keys[1:] {
				if redisclient.Slot(k) != slot {
					slot = -1 - i // alone
				}
			}
		}
		r, ok := open[slot]
		if !ok || len(runs[r]) == mergeChunk {
			r = len(runs)
			runs = append(runs, nil)
			open[slot] = r
		}
		runs[r] = append(runs[r], i)
	}
	return runs
}

func anyNoScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if c != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// errUserMismatch is wrapped by the error of an event whose user is not
// the one its order's record already has.
var errUserMismatch = errors.New("event's user differs from the order's")

// refused is the error of a call that the merge script refused with msg:
// permanent when the event contradicts the record's user, else a plain
// error (retried, then dead-lettered).
func refused(orderID, msg string) error {
	err := fmt.Errorf("merge event into order %s: %s", orderID, msg)
	if strings.HasPrefix(msg, "USERMISMATCH") {
		return stream.Permanent(fmt.Errorf("%w: %w", errUserMismatch, err))
	}
	return err
}

// classify marks err, a failure of the merge script as a whole, for the
// consumer: anything but an error reply from Redis is an outage (the
// entries are retried for as long as it lasts), and error replies are
// plain errors (retried, then dead-lettered).
func classify(err error) error {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return stream.Unavailable(err)
	}
	return err
}

// entryTime returns the time in a stream entry id ("1732570000000-0").
func entryTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n)
}
