package stream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/stream"
)

func TestBehindIsTheAgeOfTheOldestEntryTheGroupHasNotFinished(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	behind := func() time.Duration {
		t.Helper()
		d, err := stream.Behind(ctx, f.rdb, f.stream, f.group)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := behind(); d != 0 {
		t.Errorf("Behind of a stream that does not exist = %v, want 0", d)
	}
	// Entries appended 3 and 2 minutes ago, as their ids say.
	now := time.Now()
	for _, ago := range []time.Duration{3 * time.Minute, 2 * time.Minute} {
		id := fmt.Sprintf("%d-0", now.Add(-ago).UnixMilli())
		if err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: f.stream, ID: id, Values: []string{"k", "v"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	near := func(d, want time.Duration) bool { return d >= want && d < want+time.Minute }
	if d := behind(); !near(d, 3*time.Minute) {
		t.Errorf("Behind with no group yet = %v, want about 3m (it has read nothing)", d)
	}
	read := f.abandon("c", 1) // the 3-minute entry is pending
	if d := behind(); !near(d, 3*time.Minute) {
		t.Errorf("Behind with the oldest entry pending = %v, want about 3m", d)
	}
	if err := f.rdb.XAck(ctx, f.stream, f.group, read[0].Messages[0].ID).Err(); err != nil {
		t.Fatal(err)
	}
	if d := behind(); !near(d, 2*time.Minute) {
		t.Errorf("Behind with the newer entry unread = %v, want about 2m", d)
	}
	rest, err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: f.group, Consumer: "c", Streams: []string{f.stream, ">"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.XAck(ctx, f.stream, f.group, rest[0].Messages[0].ID).Err(); err != nil {
		t.Fatal(err)
	}
	if d := behind(); d != 0 {
		t.Errorf("Behind with every entry acknowledged = %v, want 0", d)
	}
}
