package testenv

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Handled reports whether consumer group has handled every entry of each
// of streams: it has read up to the stream's last entry and has none
// pending (acknowledged or dead-lettered). A stream without entries counts
// as handled, with or without the group; one with entries but not the
// group does not. Any error reads as not handled, so Handled suits WaitFor.
func Handled(ctx context.Context, rdb redis.Cmdable, group string, streams ...string) bool {
	for _, s := range streams {
		info, err := rdb.XInfoStream(ctx, s).Result()
		switch {
		case err != nil && strings.Contains(err.Error(), "no such key"):
			continue // never written
		case err != nil:
			return false
		}
		groups, err := rdb.XInfoGroups(ctx, s).Result()
		if err != nil {
			return false
		}
		i := slices.IndexFunc(groups, func(g redis.XInfoGroup) bool { return g.Name == group })
		if i < 0 {
			if info.Length > 0 {
				return false
			}
			continue
		}
		if g := groups[i]; g.Pending != 0 || g.LastDeliveredID != info.LastGeneratedID {
			return false
		}
	}
	return true
}

// Entries returns the entries of stream in stream order, each decoded by
// decode (stream.Decode, to see them as consumers do). An entry decode
// refuses fails the test.
func Entries[M any](t testing.TB, rdb redis.Cmdable, stream string, decode func(string, redis.XMessage) (M, error)) []M {
	t.Helper()
	xms, err := rdb.XRange(t.Context(), stream, "-", "+").Result()
	if err != nil {
		t.Fatalf("testenv: read %s: %v", stream, err)
	}
	out := make([]M, 0, len(xms))
	for _, xm := range xms {
		m, err := decode(stream, xm)
		if err != nil {
			t.Fatalf("testenv: entry %s of %s: %v", xm.ID, stream, err)
		}
		out = append(out, m)
	}
	return out
}

// Repeat is a way an event reaches a consumer a second time: the same
// event again (a redelivery, after a crash before the ack) or a new event
// with the same content (its producer publishing it again), in the batch
// of the first or a later one. Delivery is at least once, so every
// consumer must give each of them one effect.
type Repeat struct {
	Name      string
	SameEvent bool
	SameBatch bool
}

// Repeats are the four Repeats, for a consumer's table test.
var Repeats = []Repeat{
	{Name: "same event in one batch", SameEvent: true, SameBatch: true},
	{Name: "same event in a later batch", SameEvent: true, SameBatch: false},
	{Name: "new event in one batch", SameEvent: false, SameBatch: true},
	{Name: "new event in a later batch", SameEvent: false, SameBatch: false},
}

// Events returns how many distinct events r delivers: 1 for the same
// event, 2 for a new one.
func (r Repeat) Events() int {
	if r.SameEvent {
		return 1
	}
	return 2
}

// EachRepeat runs test as a parallel subtest, named by the Repeat, for
// each of Repeats.
func EachRepeat(t *testing.T, test func(t *testing.T, r Repeat)) {
	for _, r := range Repeats {
		t.Run(r.Name, func(t *testing.T) {
			t.Parallel()
			test(t, r)
		})
	}
}
