package stream

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

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
