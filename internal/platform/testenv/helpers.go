package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// WaitFor polls cond every 10ms until it holds, failing the test if it
// still does not after timeout. what names the condition in the failure.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logger returns a logger that writes warnings and errors to the test log,
// so a failing test shows what the code under test complained about.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(string(p))
	return len(p), nil
}

// Buffer collects output, such as a logger's or a command's, for a test to
// read while the code under test still writes. It is safe for concurrent
// use; the zero value is an empty buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Count returns how often s occurs in what was written so far.
func (b *Buffer) Count(s string) int {
	return strings.Count(b.String(), s)
}

// Background is a function that a test runs in the background, started by
// Start.
type Background struct {
	tb     testing.TB
	name   string
	within time.Duration
	cancel context.CancelFunc
	done   chan struct{}
	err    error // run's result, set before done is closed

	stopOnce sync.Once
	stopped  atomic.Bool // Stop has been called
	hung     bool
}

// Start runs run in the background until Stop is called or the test ends.
// Stop cancels run's context and waits up to within for it to return; name
// names run in failures. When the test ends without calling Stop, Start
// stops run itself and fails the test if run returns an error.
func Start(tb testing.TB, name string, within time.Duration, run func(context.Context) error) *Background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &Background{tb: tb, name: name, within: within, cancel: cancel, done: make(chan struct{})}
	go func() {
		b.err = run(ctx)
		close(b.done)
	}()
	tb.Cleanup(func() {
		if b.stopped.Load() {
			return
		}
		if err := b.Stop(); err != nil {
			tb.Errorf("%s: %v", name, err)
		}
	})
	return b
}

// Exited reports, without waiting, whether run has returned, and with
// what error.
func (b *Background) Exited() (bool, error) {
	select {
	case <-b.done:
		return true, b.err
	default:
		return false, nil
	}
}

// Stop cancels run's context, waits for run to return and returns its
// error. If run does not return within Start's limit, Stop fails the test
// and returns nil. Stop may be called more than once.
func (b *Background) Stop() error {
	b.stopped.Store(true)
	b.stopOnce.Do(func() {
		b.cancel()
		select {
		case <-b.done:
		case <-time.After(b.within):
			b.hung = true
			b.tb.Errorf("%s did not return within %v of its context being cancelled", b.name, b.within)
		}
	})
	if b.hung {
		return nil
	}
	return b.err
}

// Run runs run in the background until the test ends or stop is called,
// then cancels its context and waits up to 15s for it to return, failing
// the test if it returns an error or hangs. stop may be called more than
// once.
func Run(tb testing.TB, run func(context.Context) error) (stop func()) {
	b := Start(tb, "Run", 15*time.Second, run)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := b.Stop(); err != nil {
				tb.Errorf("Run: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// JSON returns v as a client that decodes it into an any sees it: objects
// become map[string]any, numbers float64 and times their RFC 3339 text. A
// test compares a response body, decoded into an any, with the JSON of the
// body it wants.
func JSON(tb testing.TB, v any) any {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return out
}

// Program returns the path of the first of names found on PATH. Without
// any, the test fails in CI (CI set) and is skipped elsewhere, with msg,
// which says how to install it.
func Program(tb testing.TB, msg string, names ...string) string {
	tb.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}
