package stream

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
)

func TestCompareIDsIsStreamOrder(t *testing.T) {
	ids := []string{"10-2", "9-10", "10-10", "9-9", "100-0"}
	slices.SortFunc(ids, compareIDs)
	if want := []string{"9-9", "9-10", "10-2", "10-10", "100-0"}; !slices.Equal(ids, want) {
		t.Errorf("sorted %v, want %v", ids, want)
	}
}

// claimOwn claims back exactly the asked entries that are still the
// consumer's, in whatever order they are asked, also when the consumer
// has more entries pending between them than it asks about (the script
// then reads the pending list in several pages).
func TestClaimOwnClaimsOnlyTheConsumersOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testenv.Redis(t)
	s := testenv.Name(t, "s")
	for i := range 30 {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: s, ID: fmt.Sprintf("%d-%d", 1+i/3, i%3), Values: []any{"n", i}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XGroupCreate(ctx, s, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	read, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{s, ">"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, m := range read[0].Messages {
		all = append(all, m.ID)
	}
	taken := []string{all[4], all[20]}
	if err := rdb.XClaimJustID(ctx, &redis.XClaimArgs{Stream: s, Group: "g", Consumer: "other", Messages: taken}).Err(); err != nil {
		t.Fatal(err)
	}
	// Asked, out of order: entries 25, 4 (taken), 2, 20 (taken), 12, 3.
	asked := []string{all[25], all[4], all[2], all[20], all[12], all[3]}
	c, err := NewConsumer(rdb, Config{Stream: s, Group: "g", Consumer: "c"}, func(context.Context, Message) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	c.hold(asked...)
	mine, err := c.claimOwn(ctx, asked, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{all[2], all[3], all[12], all[25]}
	if got := slices.SortedFunc(maps.Keys(mine), compareIDs); !slices.Equal(got, want) {
		t.Errorf("claimed %v, want %v", got, want)
	}
	for _, id := range taken {
		if c.holds(id) {
			t.Errorf("%s, taken over, is still held", id)
		}
	}
}

func TestReadSizeFollowsTheBacklog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		limit int64
		got   []int   // what each read returned
		want  []int64 // the count of the read after each
	}{
		{"full reads double up to the ceiling", 1000, []int{100, 200, 400, 800, 1000}, []int64{200, 400, 800, 1000, 1000}},
		{"a short read halves at most", 1000, []int{100, 200, 400, 800, 700}, []int64{200, 400, 800, 1000, 500}},
		{"a read of a few goes back to the floor", 1000, []int{100, 200, 3}, []int64{200, 400, 100}},
		{"empty reads go back to the floor", 1000, []int{100, 200, 400, 800, 0, 0}, []int64{200, 400, 800, 1000, 100, 100}},
		{"the limit caps the count", 300, []int{100, 200, 300, 300}, []int64{200, 300, 300, 300}},
		{"the floor beats the limit", 10, []int{100, 100}, []int64{100, 100}},
	}
	for _, tt := range tests {
		s := newReadSize(100, 1000)
		s.next(tt.limit)
		var next []int64
		for _, n := range tt.got {
			s.got(n)
			next = append(next, s.next(tt.limit))
		}
		if diff := cmp.Diff(tt.want, next); diff != "" {
			t.Errorf("%s: reads returning %v, the counts after each (-want +got):\n%s", tt.name, tt.got, diff)
		}
	}
}

func TestPaceFollowsASlowdownAtOnceAndASpeedupGradually(t *testing.T) {
	t.Parallel()
	var p pace
	if got := p.entriesWithin(time.Second, 1000); got != 1000 {
		t.Errorf("unknown pace: entriesWithin = %d, want the limit 1000", got)
	}
	p.handled(100, 100*time.Millisecond) // 1ms an entry
	if got := p.entriesWithin(time.Second, 10000); got != 1000 {
		t.Errorf("at 1ms an entry: entriesWithin(1s) = %d, want 1000", got)
	}
	p.handled(10, 100*time.Millisecond) // 10ms an entry: at once
	if got := p.entriesWithin(time.Second, 10000); got != 100 {
		t.Errorf("after a slowdown to 10ms: entriesWithin(1s) = %d, want 100", got)
	}
	p.handled(1000, 1000*time.Millisecond) // 1ms an entry: a quarter of the way
	if got := p.entriesWithin(time.Second, 10000); got != 129 {
		t.Errorf("after a speed-up to 1ms: entriesWithin(1s) = %d, want 129 (7.75ms an entry)", got)
	}
}

func TestNewConsumersMakesOneConsumerAStreamLoggingToTheService(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	h := func(context.Context, []Message) error { return nil }
	cs, err := NewConsumers("svc", nil, Config{Group: "svc"}, log, map[string]BatchHandler{"b": h, "a": h})
	if err != nil {
		t.Fatalf("NewConsumers: %v", err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.cfg.Stream)
		if c.cfg.Logger != log {
			t.Errorf("consumer of %s logs elsewhere than the service's logger", c.cfg.Stream)
		}
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("consumers of %v, want a,b", got)
	}

	_, err = NewConsumers("svc", nil, Config{}, log, map[string]BatchHandler{"a": h})
	if err == nil || !strings.HasPrefix(err.Error(), "svc: consumer of a: ") {
		t.Errorf("NewConsumers without a group: err = %v, want one naming the service and the stream", err)
	}
}
