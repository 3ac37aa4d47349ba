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

// merge runs calls in one pipeline, one round trip. It reports how many
// records changed. Its errors are the first call's that failed: a
// permanent one when an event contradicts the record's user, an
// unavailable one when Redis could not be reached. As every call is
// idempotent, the caller may run all of them again after an error.
func (s *Service) merge(ctx context.Context, calls []mergeCall) (changed int, err error) {
	runs := make([]redisclient.ScriptCall, len(calls))
	for i, c := range calls {
		runs[i] = redisclient.ScriptCall{Keys: c.keys, Args: c.args}
	}
	cmds, err := redisclient.RunScripts(ctx, s.rdb, mergeScript, runs)
	if err != nil {
		for i, cmd := range cmds {
			if err := cmd.Err(); err != nil {
				return 0, classify(fmt.Errorf("merge event into order %s: %w", calls[i].orderID, err))
			}
		}
		return 0, classify(fmt.Errorf("merge events: %w", err))
	}
	for _, cmd := range cmds {
		if n, _ := cmd.Int(); n == 1 {
			changed++
		}
	}
	return changed, nil
}

// errUserMismatch is wrapped by the error of an event whose user is not
// the one its order's record already has.
var errUserMismatch = errors.New("event's user differs from the order's")

// classify marks err for the consumer: a user mismatch is permanent (the
// entry is dead-lettered), anything but an error reply from Redis is an
// outage (the entry is retried for as long as it lasts), and other error
// replies are plain errors (retried, then dead-lettered).
func classify(err error) error {
	var reply redis.Error
	switch {
	case !errors.As(err, &reply):
		return stream.Unavailable(err)
	case redis.HasErrorPrefix(reply, "USERMISMATCH"):
		return stream.Permanent(fmt.Errorf("%w: %w", errUserMismatch, err))
	default:
		return err
	}
}

// entryTime returns the time in a stream entry id ("1732570000000-0").
func entryTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n)
}
