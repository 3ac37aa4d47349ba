package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"streamcart/internal/loadgen"
)

// TestBenchReportsUnverifiableOrdersApartFromLostOnes checks the report and
// the outcome of a run in which some orders could not be read after the run
// because their sessions were gone: they are shown apart from the lost or
// stuck ones, prominently, and do not fail the run by themselves.
func TestBenchReportsUnverifiableOrdersApartFromLostOnes(t *testing.T) {
	t.Parallel()
	rep := loadgen.Report{Target: "http://127.0.0.1:8080", API: "v1", Started: 100, Accepted: 100, Final: 87, Unverifiable: 13}

	var out bytes.Buffer
	printReport(&out, rep)
	for _, want := range []string{"87 final, 0 not final (lost or stuck), 13 unverifiable", "UNVERIFIABLE: 13 accepted orders"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if err := verdict(rep, time.Second); err != nil {
		t.Errorf("verdict %v, want success: unverifiable orders alone do not fail a run", err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	if fields["unverifiable"] != 13.0 || fields["notFinal"] != 0.0 {
		t.Errorf("JSON report %s: want unverifiable 13 apart from notFinal 0", b)
	}

	// An order really not final still fails the run; a run without
	// unverifiable orders does not warn about them.
	rep.Final, rep.Unverifiable, rep.NotFinal = 99, 0, 1
	if err := verdict(rep, time.Second); err == nil || !strings.Contains(err.Error(), "lost or stuck") {
		t.Errorf("verdict %v, want the lost or stuck order to fail the run", err)
	}
	out.Reset()
	printReport(&out, rep)
	if strings.Contains(out.String(), "UNVERIFIABLE") || !strings.Contains(out.String(), "1 not final (lost or stuck), 0 unverifiable") {
		t.Errorf("report:\n%s\nwant 1 not final and no unverifiable warning", out.String())
	}
}
