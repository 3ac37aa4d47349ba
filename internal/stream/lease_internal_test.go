package stream

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

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
