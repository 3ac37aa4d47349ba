// Command streamcart runs the streamcart shop: every service in one process
// for a laptop (dev), one service alone (serve), or a tool.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
	// Root certificates for TLS to a managed Redis (rediss://) or
	// PostgreSQL (sslmode=verify-full) when the system has none: the
	// container image is scratch, with no CA bundle. Used only then.
	_ "golang.org/x/crypto/x509roots/fallback"

	"streamcart/internal/app"
	"streamcart/internal/platform/config"
)

// subcommand is one of streamcart's commands: how it is called, what the
// usage says of it, and what runs it.
type subcommand struct {
	name     string
	aliases  []string
	synopsis string // the command and its arguments
	summary  string
	run      func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands returns streamcart's commands in the order of the usage, so
// that what run accepts, what help knows and what the usage lists cannot
// drift apart. It is a function rather than a variable because help runs
// commands itself.
func commands() []subcommand {
	return []subcommand{
		{name: "dev", synopsis: "dev [flags]", summary: "run the whole system on managed local Redis and PostgreSQL", run: runDev},
		{name: "serve", synopsis: "serve <service> [flags]", summary: "run one service", run: runServe},
		{name: "migrate", synopsis: "migrate [flags]", summary: "apply every service's database migrations", run: runMigrate},
		{name: "bench", synopsis: "bench [flags]", summary: "drive a running system like shoppers and report", run: runBench},
		{name: "history", synopsis: "history rebuild [flags]", summary: "recreate the order history from the orders and the streams", run: runHistory},
		{name: "token", synopsis: "token [flags]", summary: "print a signed identity for calling a service directly", run: runToken},
		{name: "redis-acl", synopsis: "redis-acl [flags]", summary: "print the Redis users of the services (ACL SETUSER)", run: runRedisACL},
		{name: "secrets", synopsis: "secrets --dir DIR", summary: "make a deployment's secrets, a directory per service", run: runSecrets},
		{name: "probe", synopsis: "probe URL", summary: "succeed when URL answers 2xx (a container's health check)", run: runProbe},
		{name: "version", aliases: []string{"-version", "--version"}, synopsis: "version", summary: "print the version", run: runVersion},
		{name: "help", aliases: []string{"-h", "-help", "--help"}, synopsis: "help [command]", summary: "show this help, or a command's", run: runHelp},
	}
}

// lookup returns the command that name or one of its aliases names.
func lookup(name string) (subcommand, bool) {
	for _, c := range commands() {
		if c.name == name || slices.Contains(c.aliases, name) {
			return c, true
		}
	}
	return subcommand{}, false
}

// writeUsage writes streamcart's usage; the services come from
// app.Services, so the list cannot drift from what serve accepts.
func writeUsage(w io.Writer) {
	fmt.Fprint(w, "streamcart: an event-driven shop over Redis Streams and PostgreSQL.\n\nUsage:\n")
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.synopsis))
	}
	for _, c := range commands() {
		fmt.Fprintf(w, "  streamcart %-*s  %s\n", width, c.synopsis, c.summary)
	}
	fmt.Fprintf(w, "\nServices: %s\n\nRun \"streamcart <command> -h\" for a command's flags.\n", strings.Join(app.Services, ", "))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command line that streamcart cannot run: an unknown
// command, service or flag, a missing argument or a bad value.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// exitCode reports err on stderr and returns the exit status for it: 0 for
// success and for help asked for (flag.ErrHelp), 2 for a usageError (as
// package flag does), 1 for a command that failed.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "streamcart:", err)
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

// run runs the command that args name. Usage asked for goes to stdout and
// returns flag.ErrHelp; usage given with an error goes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		writeUsage(stderr)
		return usageErrorf("no command given")
	}
	c, ok := lookup(args[0])
	if !ok {
		writeUsage(stderr)
		return usageErrorf("unknown command %q", args[0])
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

// runHelp writes streamcart's usage, or with a command's name that
// command's, to stdout.
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) || args[0] == "help" {
		writeUsage(stdout)
		return nil
	}
	if c, ok := lookup(args[0]); !ok || c.name != args[0] {
		writeUsage(stderr)
		return usageErrorf("unknown command %q", args[0])
	}
	if err := run(ctx, []string{args[0], "-h"}, stdout, stderr); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}

// isHelp reports whether arg asks for help the way package flag knows.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// needWord checks that args start with the word a command takes before its
// flags (serve's service, history's subcommand). With none, it writes the
// usage (header, then the flags of fs) to stderr and returns a usageError
// saying missing; on -h or --help it writes the usage to stdout and
// returns flag.ErrHelp. Whether the word is a known one is the caller's
// to say.
func needWord(args []string, fs *flag.FlagSet, header, missing string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
		writeFlagsUsage(stderr, fs, "STREAMCART", header)
		return usageErrorf("%s", missing)
	case isHelp(args[0]):
		writeFlagsUsage(stdout, fs, "STREAMCART", header)
		return flag.ErrHelp
	}
	return nil
}

// parseFlags parses args into fs, then the environment (config.Parse,
// under prefix). On -h or --help it writes the usage (header, then the
// flags) to stdout and returns flag.ErrHelp; on a bad flag, value or
// argument, it writes it to stderr and returns a usageError.
func parseFlags(fs *flag.FlagSet, prefix, header string, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(io.Discard) // the usage goes where this function says
	err := config.Parse(fs, prefix, args)
	if errors.Is(err, flag.ErrHelp) {
		writeFlagsUsage(stdout, fs, prefix, header)
		return flag.ErrHelp
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err != nil {
		writeFlagsUsage(stderr, fs, prefix, header)
		return usageError{err}
	}
	return nil
}

// writeFlagsUsage writes header and the flags of fs to w.
func writeFlagsUsage(w io.Writer, fs *flag.FlagSet, prefix, header string) {
	fmt.Fprintln(w, strings.TrimSpace(header))
	var example string // a flag, to show its environment variable
	fs.VisitAll(func(f *flag.Flag) {
		if example == "" || f.Name == "log-level" {
			example = f.Name
		}
	})
	if example == "" {
		return
	}
	env := config.EnvName(prefix, example)
	fmt.Fprintf(w, "\nFlags (each also an environment variable: --%s is %s, or the content of the file %s_FILE names):\n", example, env, env)
	// A default read from the environment (REDIS_URL, DATABASE_URL) may
	// hold a password; the usage never shows it. fs is not used after.
	fs.VisitAll(func(f *flag.Flag) { f.DefValue = config.MaskPasswords(f.DefValue) })
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// routeGoRedisLog sends go-redis's own log lines to log at Debug level.
//
// go-redis has one logger for the whole process (redis.SetLogger), so the
// command sets it, here in the composition root, and no library does: in
// redisclient, whichever service opened a client first would have owned
// the lines of every client. Its lines therefore carry the command's
// logger's attributes, not a service's. Debug, because go-redis returns the
// failures it logs (a refused dial, a broken pool connection) to the
// callers too, which report the ones that matter. A process runs one
// command, so this happens once; tests that run several in one process
// only swap it (go-redis stores it atomically).
func routeGoRedisLog(log *slog.Logger) {
	redis.SetLogger(goRedisLog{log.With("component", "go-redis")})
}

type goRedisLog struct{ log *slog.Logger }

func (l goRedisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis log", "line", fmt.Sprintf(format, v...))
}
