// Command streamcart runs the streamcart shop: every service in one process
// for a laptop (dev), one service alone (serve), or a tool.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `streamcart: an event-driven shop over Redis Streams and PostgreSQL.

Usage:
  streamcart dev [flags]              run the whole system on managed local Redis and PostgreSQL
  streamcart serve <service> [flags]  run one service (products, payments, orders, orderhistory, identity)
  streamcart migrate [flags]          apply every service's database migrations
  streamcart bench [flags]            drive a running system like shoppers and report
  streamcart history rebuild [flags]  recreate the order history from the streams
  streamcart help                     show this help

Run "streamcart <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "streamcart:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, args, stdout, stderr)
	case "serve":
		return runServe(ctx, args, stderr)
	case "migrate":
		return runMigrate(ctx, args, stderr)
	case "history":
		return runHistory(ctx, args, stderr)
	case "bench":
		return runBench(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
