package testenv

import (
	"context"
	"log/slog"
	"sync"
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

// Run runs run in the background until the test ends or stop is called,
// then cancels its context and waits up to 15s for it to return, failing
// the test if it returns an error or hangs. stop may be called more than
// once.
func Run(tb testing.TB, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				tb.Error("Run did not return within 15s of its context being cancelled")
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}
