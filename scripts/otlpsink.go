//go:build ignore

// otlpsink is a stand-in OpenTelemetry collector for measuring what
// tracing costs (scripts/bench-overhead.sh): it listens on the loopback
// address given, accepts every OTLP/HTTP export with 200 and an empty
// answer, keeps nothing, and prints how many exports and bytes it got when
// interrupted.
//
//	go run scripts/otlpsink.go 127.0.0.1:4318
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/otlpsink.go 127.0.0.1:PORT")
		os.Exit(2)
	}
	host, _, err := net.SplitHostPort(os.Args[1])
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(os.Stderr, "otlpsink: listen on a loopback address only")
		os.Exit(2)
	}
	var exports, bytes atomic.Int64
	srv := &http.Server{Addr: os.Args[1], Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		exports.Add(1)
		bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
	})}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "otlpsink:", err)
		os.Exit(1)
	}
	fmt.Printf("otlpsink: %d exports, %d bytes\n", exports.Load(), bytes.Load())
}
