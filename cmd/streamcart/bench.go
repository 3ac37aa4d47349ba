package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"time"

	"streamcart/internal/loadgen"
)

// runBench drives a running system like shoppers and prints a report. It
// fails when any accepted order is lost or stuck. Orders it could not
// verify, because their sessions are gone, do not fail it: they are
// reported, and warned of on stderr.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart bench", flag.ContinueOnError)
	var cfg loadgen.Config
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "the gateway's base URL")
	fs.Float64Var(&cfg.Rate, "rate", 50, "orders started per second, whatever the responses (open loop)")
	fs.IntVar(&cfg.OrdersPerSession, "orders-per-session", 1, "orders each shopper places in one session, one after the other")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long shoppers keep arriving")
	fs.IntVar(&cfg.Concurrency, "concurrency", 2000, "most shoppers in flight; arrivals beyond it count as errors")
	fs.StringVar(&cfg.API, "api", "v1", "API to use: v1 or tutorial")
	fs.DurationVar(&cfg.Settle, "settle", 30*time.Second, "how long accepted orders may take to become final after the run")
	asJSON := fs.Bool("json", false, "print the report as one JSON object on the last line")
	cpuProfile := fs.String("cpuprofile", "", "write the load tool's own CPU profile to this file")
	const header = "usage: streamcart bench [flags]\n\nDrive a running system through its gateway like shoppers, then report orders/s and\nlatencies. It fails when an accepted order is lost or stuck. An order whose session\nis gone (401, or 404 under a new session) cannot be read: it is reported as\nunverifiable, with a warning, and does not fail the run."
	if err := parseFlags(fs, "STREAMCART_BENCH", header, args, stdout, stderr); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if isTerminal(stderr) {
		cfg.Progress = stderr
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	printReport(stdout, rep)
	if *asJSON {
		b, _ := json.Marshal(rep)
		fmt.Fprintln(stdout, string(b))
	}
	if rep.Unverifiable > 0 {
		fmt.Fprintf(stderr, "streamcart bench: warning: %d accepted orders are unverifiable: their sessions are gone; check them in the database\n", rep.Unverifiable)
	}
	return verdict(rep, cfg.Settle)
}

// verdict is the outcome of a run: an error when an accepted order is lost
// or stuck, or when none was accepted. Unverifiable orders alone are not a
// failure.
func verdict(rep loadgen.Report, settle time.Duration) error {
	if rep.NotFinal > 0 {
		return fmt.Errorf("%d accepted orders were not final %v after the run: lost or stuck", rep.NotFinal, settle)
	}
	if rep.Accepted == 0 {
		return errors.New("no order was accepted")
	}
	return nil
}

func printReport(w io.Writer, r loadgen.Report) {
	fmt.Fprintf(w, "target %s (%s API), %.1fs at %.0f orders/s, %d per session\n", r.Target, r.API, r.DurationSeconds, r.TargetRate, r.OrdersPerSession)
	fmt.Fprintf(w, "orders: %d shoppers started, %d orders accepted (%.1f/s), %d final, %d not final (lost or stuck), %d unverifiable\n",
		r.Started, r.Accepted, r.OrdersPerSecond, r.Final, r.NotFinal, r.Unverifiable)
	if r.Unverifiable > 0 {
		fmt.Fprintf(w, "UNVERIFIABLE: %d accepted orders could not be read after the run: their sessions are gone\n"+
			"  (401, or 404 under a new session), e.g. because Redis lost its data. They are not counted\n"+
			"  as lost; only the database can tell whether they are final.\n", r.Unverifiable)
	}
	fmt.Fprintf(w, "http latency ms:      p50 %7.1f  p95 %7.1f  p99 %7.1f  max %7.1f  (%d requests)\n",
		r.HTTP.P50, r.HTTP.P95, r.HTTP.P99, r.HTTP.Max, r.HTTP.Count)
	for _, step := range loadgen.StepNames {
		if l, ok := r.Steps[step]; ok {
			fmt.Fprintf(w, "  %-8s            p50 %7.1f  p95 %7.1f  p99 %7.1f  max %7.1f  (%d)\n", step, l.P50, l.P95, l.P99, l.Max, l.Count)
		}
	}
	fmt.Fprintf(w, "order→final latency ms: p50 %5.1f  p95 %7.1f  p99 %7.1f  max %7.1f  (%d orders)\n",
		r.OrderToFinal.P50, r.OrderToFinal.P95, r.OrderToFinal.P99, r.OrderToFinal.Max, r.OrderToFinal.Count)
	if r.ErrorCount == 0 {
		fmt.Fprintln(w, "errors: none")
		return
	}
	kinds := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "errors: %d\n", r.ErrorCount)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-28s %d\n", k, r.Errors[k])
	}
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
