package testenv_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/testenv"
)

func TestHandledMeansReadToTheEndAndNothingPending(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	rdb := testenv.Redis(t)
	done, busy, never := testenv.Name(t, "done"), testenv.Name(t, "busy"), testenv.Name(t, "never")
	const group = "g"
	read := func(s string) {
		t.Helper()
		if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{s, ">"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	handled := func() bool { return testenv.Handled(ctx, rdb, group, done, busy) }

	if !testenv.Handled(ctx, rdb, group, never) {
		t.Error("a stream never written is not handled, want handled")
	}
	first := xadd(t, rdb, done, "k", "v")
	xadd(t, rdb, busy, "k", "v")
	if handled() {
		t.Error("handled before any group exists, want not")
	}
	for _, s := range []string{done, busy} {
		if err := rdb.XGroupCreate(ctx, s, group, "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	read(done)
	if err := rdb.XAck(ctx, done, group, first).Err(); err != nil {
		t.Fatal(err)
	}
	if !testenv.Handled(ctx, rdb, group, done) {
		t.Errorf("%s read and acknowledged is not handled, want handled", done)
	}
	if handled() {
		t.Errorf("handled while %s is unread, want not", busy)
	}
	read(busy)
	if handled() {
		t.Errorf("handled while %s is pending, want not", busy)
	}
}

func TestEntriesDecodesEveryEntryInOrder(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	s := testenv.Name(t, "s")
	for _, v := range []string{"a", "b", "c"} {
		xadd(t, rdb, s, "v", v)
	}
	got := testenv.Entries(t, rdb, s, func(name string, xm redis.XMessage) (string, error) {
		if name != s {
			return "", fmt.Errorf("decode called with stream %q, want %q", name, s)
		}
		return strings.ToUpper(xm.Values["v"].(string)), nil
	})
	if diff := cmp.Diff([]string{"A", "B", "C"}, got); diff != "" {
		t.Errorf("Entries (-want +got):\n%s", diff)
	}
}

// xadd appends an entry of field and value to stream and returns its id.
func xadd(t *testing.T, rdb redis.UniversalClient, stream, field, value string) string {
	t.Helper()
	id, err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: []any{field, value}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestEachRepeatRunsAParallelSubtestForEveryRepeat(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	t.Run("each", func(t *testing.T) {
		testenv.EachRepeat(t, func(t *testing.T, r testenv.Repeat) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, r.Name)
		})
	})
	var want []string
	for _, r := range testenv.Repeats {
		want = append(want, r.Name)
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("repeats run (-want +got):\n%s", diff)
	}
}
