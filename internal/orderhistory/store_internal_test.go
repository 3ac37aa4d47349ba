package orderhistory

import (
	"fmt"
	"slices"
	"testing"

	"streamcart/internal/platform/redisclient"
)

// On one Redis every call joins one run, up to mergeChunk; on a cluster a
// run's keys share a slot, and a call whose keys cross slots runs alone.
func TestMergeRunsKeepARunInOneSlot(t *testing.T) {
	call := func(order, user string) mergeCall {
		return mergeCall{keys: []string{order, user}}
	}
	var calls []mergeCall
	for i := range mergeChunk + 1 {
		calls = append(calls, call(fmt.Sprintf("o:{u%d}:%d", i%2, i), fmt.Sprintf("u:{u%d}", i%2)))
	}
	calls = append(calls, call("o:1", "u:1")) // two slots
	runs := mergeRuns(calls, false)
	if len(runs) != 2 || len(runs[0]) != mergeChunk || len(runs[1]) != 2 {
		t.Errorf("one Redis: runs of %v calls, want %d and 2", lens(runs), mergeChunk)
	}
	runs = mergeRuns(calls, true)
	seen := 0
	for _, run := range runs {
		slot := redisclient.Slot(calls[run[0]].keys[0])
		for _, c := range run {
			for _, k := range calls[c].keys {
				if redisclient.Slot(k) != slot {
					if len(run) != 1 {
						t.Errorf("cluster: run %v crosses slots", run)
					}
				}
			}
		}
		if !slices.IsSorted(run) {
			t.Errorf("cluster: run %v out of order", run)
		}
		seen += len(run)
	}
	if seen != len(calls) || len(runs) != 3 {
		t.Errorf("cluster: runs of %v calls, want three runs of all %d", lens(runs), len(calls))
	}
}

func lens(runs [][]int) []int {
	var n []int
	for _, r := range runs {
		n = append(n, len(r))
	}
	return n
}
