package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/platform/testenv"
)

// recorder is a testing.TB that records the failures reported to it
// instead of failing the test.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func (r *recorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.failed...)
}

func TestCheckConfigsReportsEachWrongAnswerAndNothingElse(t *testing.T) {
	t.Parallel()
	// A configuration is the error Validate returns ("" for none);
	// construct refuses the same, except for "lenient".
	validate := func(c string) error {
		if c == "" || c == "lenient" {
			return nil
		}
		return errors.New(c)
	}
	construct := func(c string) error {
		if c == "bad Size" {
			return errors.New("size")
		}
		return validate(c)
	}
	tests := []testenv.ConfigCase[string]{
		{Name: "valid and accepted", Config: ""},
		{Name: "valid but refused", Config: "bad Port"},
		{Name: "invalid and named", Config: "bad Host", WantField: "Host"},
		{Name: "invalid but another field named", Config: "bad Port", WantField: "Host"},
		{Name: "invalid but accepted", Config: "", WantField: "Host"},
		{Name: "constructed though invalid", Config: "lenient", WantField: "Mode"},
		{Name: "constructor names another field", Config: "bad Size", WantField: "Size"},
	}
	rec := &recorder{TB: t}
	testenv.CheckConfigs(rec, tests, validate, construct)
	want := []string{
		"valid but refused: Validate() = bad Port, want nil",
		"invalid but another field named: Validate() = bad Port, want an error naming Host",
		"invalid but another field named: NewService error = bad Port, want one naming Host",
		"invalid but accepted: Validate() = <nil>, want an error naming Host",
		"invalid but accepted: NewService error = <nil>, want one naming Host",
		"constructed though invalid: Validate() = <nil>, want an error naming Mode",
		"constructed though invalid: NewService error = <nil>, want one naming Mode",
		"constructor names another field: NewService error = size, want one naming Size",
	}
	if diff := cmp.Diff(want, rec.failures()); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}

	rec = &recorder{TB: t}
	testenv.CheckConfigs(rec, tests[:3], validate, nil)
	if diff := cmp.Diff(want[:1], rec.failures()); diff != "" {
		t.Errorf("failures without a constructor (-want +got):\n%s", diff)
	}
}

func TestBufferKeepsEveryWriteOfConcurrentWriters(t *testing.T) {
	t.Parallel()
	var b testenv.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintln(&b, "line")
			}
		})
	}
	wg.Wait()
	if n := b.Count("line\n"); n != 800 || len(b.String()) != 800*len("line\n") {
		t.Errorf("buffer has %d lines, %d bytes; want 800 lines of %q", n, len(b.String()), "line\n")
	}
}

func TestStartRunsUntilStopAndReturnsTheError(t *testing.T) {
	t.Parallel()
	stopped := errors.New("stopped")
	bg := testenv.Start(t, "worker", time.Minute, func(ctx context.Context) error {
		<-ctx.Done()
		return stopped
	})
	if exited, err := bg.Exited(); exited {
		t.Fatalf("Exited() = true, %v before Stop; want false", err)
	}
	for range 2 {
		if err := bg.Stop(); !errors.Is(err, stopped) {
			t.Errorf("Stop() = %v, want run's error", err)
		}
	}
	if exited, err := bg.Exited(); !exited || !errors.Is(err, stopped) {
		t.Errorf("Exited() after Stop = %v, %v; want true and run's error", exited, err)
	}
}

func TestStartTellsARunThatEndedEarly(t *testing.T) {
	t.Parallel()
	early := errors.New("no config")
	rec := &recorder{TB: t}
	t.Run("run", func(t *testing.T) {
		rec.TB = t
		bg := testenv.Start(rec, "worker", time.Minute, func(context.Context) error { return early })
		testenv.WaitFor(t, time.Minute, "run to end", func() bool {
			exited, _ := bg.Exited()
			return exited
		})
		if _, err := bg.Exited(); !errors.Is(err, early) {
			t.Errorf("Exited() error = %v, want run's", err)
		}
		// The test ends without Stop: Start reports run's error.
	})
	if diff := cmp.Diff([]string{"worker: no config"}, rec.failures()); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
}

func TestStopFailsTheTestWhenRunIgnoresCancellation(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	rec := &recorder{TB: t}
	bg := testenv.Start(rec, "stubborn", 50*time.Millisecond, func(context.Context) error {
		<-release
		return errors.New("late")
	})
	if err := bg.Stop(); err != nil {
		t.Errorf("Stop() of a hung run = %v, want nil", err)
	}
	want := []string{"stubborn did not return within 50ms of its context being cancelled"}
	if diff := cmp.Diff(want, rec.failures()); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
}

func TestJSONIsWhatAClientDecodes(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	got := testenv.JSON(t, map[string]any{"n": 3, "at": at, "list": []string{}, "none": nil})
	want := map[string]any{"n": float64(3), "at": "2026-03-14T15:09:26.535Z", "list": []any{}, "none": nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}
