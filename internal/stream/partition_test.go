package stream_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/redisclient"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

// keySlot is the Redis Cluster hash slot of key (redisclient.Slot, which
// its own test checks against the cluster specification).
func keySlot(key string) int { return redisclient.Slot(key) }

func TestOnePartitionKeepsTheStreamsOwnName(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1} {
		if got := stream.Partitions("ORDERS_STREAM", n); !cmp.Equal(got, []string{"ORDERS_STREAM"}) {
			t.Errorf("Partitions(ORDERS_STREAM, %d) = %q, want [ORDERS_STREAM]", n, got)
		}
	}
	if got := stream.DeadLetterStream("ORDERS_STREAM"); got != "{ORDERS_STREAM}:dlq" {
		t.Errorf("DeadLetterStream(ORDERS_STREAM) = %q", got)
	}
	want := []string{"PAYMENTS_STREAM:0", "PAYMENTS_STREAM:1", "PAYMENTS_STREAM:2"}
	if got := stream.Partitions("PAYMENTS_STREAM", 3); !cmp.Equal(got, want) {
		t.Errorf("Partitions(PAYMENTS_STREAM, 3) = %q, want %q", got, want)
	}
}

// Each partition and its dead-letter stream are in one hash slot, so
// that dead-lettering (XADD + XACK in a MULTI) and replaying stay on one
// node of a Redis Cluster; the partitions themselves are spread.
func TestPartitionsSpreadOverSlotsEachWithItsDeadLettersInItsSlot(t *testing.T) {
	t.Parallel()
	for _, logical := range []string{"ORDERS_STREAM", "PAYMENTS_STREAM", "TRANSACTION_STREAM"} {
		for _, n := range []int{1, 2, 4, 8, 16} {
			slots := map[int]bool{}
			thirds := map[int]bool{} // of the slots, as three primaries split them
			for _, key := range stream.Partitions(logical, n) {
				if a, b := keySlot(key), keySlot(stream.DeadLetterStream(key)); a != b {
					t.Errorf("%s is in slot %d, its dead letters %s in %d", key, a, stream.DeadLetterStream(key), b)
				}
				slots[keySlot(key)] = true
				thirds[keySlot(key)*3/16384] = true
			}
			if len(slots) != n {
				t.Errorf("the %d partitions of %s are in %d slots, want %d", n, logical, len(slots), n)
			}
			if n >= 4 && len(thirds) < 2 {
				t.Errorf("the %d partitions of %s are all in one third of the slots", n, logical)
			}
		}
	}
}

// The partition of a key must never change between releases: entries
// already in a partition would be read out of order with new ones.
func TestPartitionOfIsStable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		key  string
		n    int
		want int
	}{
		{"anything", 1, 0},
		{"", 8, 5}, // FNV-1a offset basis 2166136261 % 8
		{"0193a1e2-7c4f-7d2a-9b1e-2f6c8d9e0a1b", 8, 7}, // an order id
		{"u-42", 4, 1},
		{"u-42", 64, 33},
	} {
		if got := stream.PartitionOf(tt.key, tt.n); got != tt.want {
			t.Errorf("PartitionOf(%q, %d) = %d, want %d", tt.key, tt.n, got, tt.want)
		}
	}
}

// keyed is an event of key k, the seq-th of its key.
func keyed(k string, seq int) stream.Event {
	return stream.Event{Type: "Tested", Fields: map[string]string{"k": k, "seq": strconv.Itoa(seq)}}
}

func byK(e stream.Event) string { return e.Fields["k"] }

// publishKeyed publishes perKey events of each of keys through pub,
// interleaved (k0#0, k1#0, …, k0#1, …), one at a time so that their order
// is the order of the calls, and returns their event ids.
func publishKeyed(t *testing.T, pub *stream.Publisher, logical string, keys, perKey int) []string {
	t.Helper()
	var ids []string
	for seq := range perKey {
		for k := range keys {
			e := keyed("key-"+strconv.Itoa(k), seq)
			e.ID = stream.NewID()
			if _, err := pub.Publish(context.Background(), logical, e); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// partitionsSettled reports whether group has read everything of every
// partition of logical and has nothing pending.
func partitionsSettled(rdb redis.UniversalClient, logical, group string, n int) bool {
	return testenv.Handled(context.Background(), rdb, group, stream.Partitions(logical, n)...)
}

func TestPartitionedStreamKeepsTheOrderOfEachKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n, keys, perKey = 4, 12, 25
	pub := f.pub.Partitioned(n, byK)
	var (
		mu   sync.Mutex
		seen = map[string][]int{} // key → seqs in the order handled
		rec  = newRecorder()
	)
	cfg := f.config()
	cfg.Partitions = n
	cfg.Count = 7 // several reads per partition
	consume(t, f.rdb, cfg, func(_ context.Context, m stream.Message) error {
		seq, _ := strconv.Atoi(m.Fields["seq"])
		mu.Lock()
		seen[m.Fields["k"]] = append(seen[m.Fields["k"]], seq)
		mu.Unlock()
		if want := stream.PartitionKey(f.stream, stream.PartitionOf(m.Fields["k"], n), n); m.Stream != want {
			t.Errorf("event of key %s read from %s, want its partition %s", m.Fields["k"], m.Stream, want)
		}
		return rec.handle(context.Background(), m)
	})
	ids := publishKeyed(t, pub, f.stream, keys, perKey)
	testenv.WaitFor(t, 20*time.Second, "every event handled", func() bool {
		return rec.handled() == len(ids) && partitionsSettled(f.rdb, f.stream, f.group, n)
	})
	rec.wantCounts(t, onceEach(ids))
	mu.Lock()
	defer mu.Unlock()
	for k, seqs := range seen {
		for i, seq := range seqs {
			if seq != i {
				t.Errorf("key %s: handled in the order %v, want 0 to %d", k, seqs, perKey-1)
				break
			}
		}
	}
	// The logical name itself is never written to, and the keys used
	// several partitions.
	used := 0
	for _, key := range stream.Partitions(f.stream, n) {
		if l := f.rdb.XLen(context.Background(), key).Val(); l > 0 {
			used++
		}
	}
	if exists := f.rdb.Exists(context.Background(), f.stream).Val(); exists != 0 || used < 2 {
		t.Errorf("logical stream exists: %d; partitions used: %d of %d; want 0 and several", exists, used, n)
	}
}

// logicalMetrics records the stream names a consumer reports.
type logicalMetrics struct {
	mu      sync.Mutex
	streams map[string]int // stream → entries processed or dead-lettered
}

func (m *logicalMetrics) add(s string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.streams[s] += n
}

func (m *logicalMetrics) Processed(s, _ string, n int, _ time.Duration) { m.add(s, n) }
func (m *logicalMetrics) Failed(string, string, int)                    {}
func (m *logicalMetrics) Retried(string, string, int)                   {}
func (m *logicalMetrics) Reclaimed(s, _ string, n int)                  { m.add(s, n) }
func (m *logicalMetrics) DeadLettered(s, _ string, n int)               { m.add(s, n) }

func (m *logicalMetrics) seen() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.streams)
}

// A poison entry is dead-lettered to its own partition's dead-letter
// stream, the others of its partition and the other partitions go on,
// and a replay puts it back on its partition.
func TestPartitionedPoisonEntryIsDeadLetteredToItsPartitionAndReplayedThere(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 4
	var (
		mu     sync.Mutex
		broken = true
		rec    = newRecorder()
	)
	metrics := &logicalMetrics{streams: map[string]int{}}
	cfg := f.config()
	cfg.Partitions = n
	cfg.Metrics = metrics
	consume(t, f.rdb, cfg, func(_ context.Context, m stream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if broken && m.Fields["k"] == "key-3" && m.Fields["seq"] == "1" {
			return errors.New("cannot handle key-3#1")
		}
		return rec.handle(context.Background(), m)
	})
	ids := publishKeyed(t, f.pub.Partitioned(n, byK), f.stream, 8, 3)
	home := stream.PartitionKey(f.stream, stream.PartitionOf("key-3", n), n)
	dlq := stream.DeadLetterStream(home)
	letters := func() []stream.DeadLetter {
		dl, err := stream.DeadLetters(context.Background(), f.rdb, dlq, 10)
		if err != nil {
			t.Fatal(err)
		}
		return dl
	}
	testenv.WaitFor(t, 20*time.Second, "the poison entry dead-lettered, the others handled", func() bool {
		return rec.handled() == len(ids)-1 && len(letters()) == 1 && partitionsSettled(f.rdb, f.stream, f.group, n)
	})
	dl := letters()[0]
	if dl.OriginStream != home || dl.Fields["k"] != "key-3" || dl.Fields["seq"] != "1" || dl.Attempts != 3 {
		t.Errorf("dead letter %+v, want key-3#1 from %s after 3 attempts", dl, home)
	}
	for _, key := range stream.Partitions(f.stream, n) {
		if l := f.rdb.XLen(context.Background(), stream.DeadLetterStream(key)).Val(); key != home && l != 0 {
			t.Errorf("%d dead letters of %s, want none", l, key)
		}
	}

	mu.Lock()
	broken = false
	mu.Unlock()
	if _, err := stream.Replay(context.Background(), f.rdb, dlq, dl.ID); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "the replayed entry handled", func() bool {
		return rec.handled() == len(ids) && partitionsSettled(f.rdb, f.stream, f.group, n)
	})
	rec.wantCounts(t, onceEach(ids))
	if got := metrics.seen(); !cmp.Equal(got, map[string]int{f.stream: len(ids) + 1}) {
		t.Errorf("metrics by stream %v, want every count under the logical stream %s", got, f.stream)
	}
}

// Entries left pending on one partition by a consumer that died are taken
// over by a live one, on that partition only.
func TestPartitionedEntriesOfADeadConsumerAreReclaimedOnTheirPartition(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 3
	ctx := context.Background()
	ids := publishKeyed(t, f.pub.Partitioned(n, byK), f.stream, 6, 4)
	// A consumer of the group read one partition and died.
	dead := stream.PartitionKey(f.stream, 1, n)
	if err := f.rdb.XGroupCreateMkStream(ctx, dead, f.group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	read, err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: f.group, Consumer: "died", Streams: []string{dead, ">"}}).Result()
	if err != nil || len(read) != 1 || len(read[0].Messages) == 0 {
		t.Fatalf("read of %s: %v, %v; want entries", dead, read, err)
	}
	metrics := &logicalMetrics{streams: map[string]int{}}
	cfg := f.reclaimConfig(300 * time.Millisecond)
	cfg.Partitions = n
	cfg.Metrics = metrics
	rec, _ := f.record(cfg)
	testenv.WaitFor(t, 20*time.Second, "every entry handled", func() bool {
		return rec.handled() == len(ids) && partitionsSettled(f.rdb, f.stream, f.group, n)
	})
	rec.wantCounts(t, onceEach(ids))
	// Reclaimed and then processed: both counted under the logical name.
	if got, want := metrics.seen()[f.stream], len(ids)+len(read[0].Messages); got != want {
		t.Errorf("processed and reclaimed %d under %s, want %d (%d reclaimed)", got, f.stream, want, len(read[0].Messages))
	}
}

// Two replicas of a partitioned consumer each read every partition, so
// they share every partition's entries.
func TestReplicasOfAPartitionedConsumerShareEachPartition(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 2
	recs := []*recorder{newRecorder(), newRecorder()}
	both := newRecorder()
	byPartition := make([]map[string]int, len(recs)) // replica → partition → entries
	var mu sync.Mutex
	for i, rec := range recs {
		byPartition[i] = map[string]int{}
		cfg := f.config()
		cfg.Partitions = n
		cfg.Count = 5
		consume(t, f.rdb, cfg, func(ctx context.Context, m stream.Message) error {
			mu.Lock()
			byPartition[i][m.Stream]++
			mu.Unlock()
			_ = both.handle(ctx, m)
			return rec.handle(ctx, m)
		})
	}
	// Both replicas wait on every partition before anything comes.
	testenv.WaitFor(t, 10*time.Second, "the group on each partition", func() bool {
		for _, key := range stream.Partitions(f.stream, n) {
			if gs, err := f.rdb.XInfoGroups(context.Background(), key).Result(); err != nil || len(gs) != 1 {
				return false
			}
		}
		return true
	})
	var ids []string
	for range 10 {
		ids = append(ids, publishKeyed(t, f.pub.Partitioned(n, byK), f.stream, 20, 5)...)
	}
	testenv.WaitFor(t, 30*time.Second, "every entry handled", func() bool {
		return both.handled() == len(ids) && partitionsSettled(f.rdb, f.stream, f.group, n)
	})
	both.wantCounts(t, onceEach(ids))
	mu.Lock()
	defer mu.Unlock()
	for i := range recs {
		for _, key := range stream.Partitions(f.stream, n) {
			if byPartition[i][key] == 0 {
				t.Errorf("replica %d handled nothing of %s (%v)", i, key, byPartition)
			}
		}
	}
	t.Logf("entries by replica and partition: %v", fmt.Sprint(byPartition))
}
