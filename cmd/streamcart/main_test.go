package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"streamcart/internal/app"
	"streamcart/internal/platform/testenv"
)

// cancelled returns a context that is already done: a command that starts
// anything under it by mistake stops at once instead of running.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestEveryCommandPrintsItsUsageOnHelpAndSucceeds(t *testing.T) {
	t.Parallel()
	commands := [][]string{
		{}, {"help"}, {"dev"}, {"serve"}, {"migrate"}, {"bench"},
		{"history"}, {"history", "rebuild"}, {"token"}, {"redis-acl"}, {"secrets"}, {"probe"}, {"version"},
	}
	for _, name := range app.Services {
		commands = append(commands, []string{"serve", name})
	}
	for _, cmd := range commands {
		for _, help := range []string{"-h", "--help"} {
			args := append(append([]string{}, cmd...), help)
			var stdout, stderr bytes.Buffer
			err := run(cancelled(), args, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != 0 {
				t.Errorf("streamcart %s: exit %d (%v), want 0", strings.Join(args, " "), code, err)
			}
			if !strings.Contains(strings.ToLower(stdout.String()), "usage:") {
				t.Errorf("streamcart %s: stdout lacks the usage:\n%s", strings.Join(args, " "), stdout.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("streamcart %s: stderr = %q, want nothing", strings.Join(args, " "), stderr.String())
			}
		}
	}
}

func TestHelpOfACommandIsThatCommandsUsage(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"dev", "serve", "migrate", "bench", "history", "token", "version"} {
		var stdout, stderr bytes.Buffer
		if err := run(cancelled(), []string{"help", cmd}, &stdout, &stderr); err != nil {
			t.Errorf("streamcart help %s: %v", cmd, err)
		}
		if want := "usage: streamcart " + cmd; !strings.HasPrefix(stdout.String(), want) {
			t.Errorf("streamcart help %s: stdout starts %q, want %q", cmd, firstLine(stdout.String()), want)
		}
	}
}

func TestHelpListsEveryServiceThatServeAccepts(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}} {
		var stdout, stderr bytes.Buffer
		_ = run(cancelled(), args, &stdout, &stderr)
		var services string
		for line := range strings.Lines(stdout.String()) {
			if s, ok := strings.CutPrefix(line, "Services: "); ok {
				services = strings.TrimSpace(s)
			}
		}
		if want := strings.Join(app.Services, ", "); services != want {
			t.Errorf("streamcart %s lists services %q, want %q", strings.Join(args, " "), services, want)
		}
	}
}

func TestWrongCommandLinesAreRefusedWithExitStatus2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args      []string
		wantUsage bool // the usage follows on stderr
	}{
		{nil, true},
		{[]string{"nosuch"}, true},
		{[]string{"help", "nosuch"}, true},
		{[]string{"dev", "--nope"}, true},
		{[]string{"dev", "extra"}, true},
		{[]string{"serve"}, true},
		{[]string{"serve", "nosuch"}, false},
		{[]string{"serve", "products", "--nope"}, true},
		{[]string{"migrate", "extra"}, true},
		{[]string{"bench", "--rate", "many"}, true},
		{[]string{"history"}, true},
		{[]string{"history", "nosuch"}, true},
		{[]string{"history", "rebuild", "extra"}, true},
		{[]string{"history", "rebuild", "--redis-url", "redis://127.0.0.1:1/0"}, false}, // no --orders-url
		{[]string{"version", "extra"}, true},
		{[]string{"redis-acl", "--format", "yaml"}, true},
		{[]string{"redis-acl", "--redis-url", "http://host"}, true},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(cancelled(), tt.args, &stdout, &stderr)
		if code := exitCode(err, &stderr); code != 2 {
			t.Errorf("streamcart %q: exit %d (%v), want 2", tt.args, code, err)
		}
		if stdout.Len() > 0 {
			t.Errorf("streamcart %q: stdout = %q, want nothing", tt.args, stdout.String())
		}
		if got := strings.Contains(strings.ToLower(stderr.String()), "usage:"); got != tt.wantUsage {
			t.Errorf("streamcart %q: usage on stderr %v, want %v:\n%s", tt.args, got, tt.wantUsage, stderr.String())
		}
		if !strings.Contains(stderr.String(), "streamcart: "+err.Error()) {
			t.Errorf("streamcart %q: stderr lacks the error %q:\n%s", tt.args, err, stderr.String())
		}
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{usageErrorf("unknown command %q", "x"), 2},
		{fmt.Errorf("serve: %w", usageErrorf("bad")), 2},
		{errors.New("redis ping: refused"), 1},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if got := exitCode(tt.err, &stderr); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
		if (stderr.Len() > 0) != (tt.want != 0) {
			t.Errorf("exitCode(%v) wrote %q to stderr", tt.err, stderr.String())
		}
	}
}

func TestVersionOf(t *testing.T) {
	t.Parallel()
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"tagged", debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"module version wins", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101000000-0123456789ab+dirty"}, Settings: vcs("0123456789abcdef", "true")}, "v0.0.0-20260101000000-0123456789ab+dirty"},
		{"revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef", "false")}, "0123456789ab"},
		{"modified revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef", "true")}, "0123456789ab+dirty"},
		{"nothing known", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
	}
	for _, tt := range tests {
		if got := versionOf(&tt.info); got != tt.want {
			t.Errorf("versionOf(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// connCounter is a listener that stands in for Redis and PostgreSQL and
// counts the connections made to it.
type connCounter struct {
	ln    net.Listener
	conns chan net.Conn
}

func newConnCounter(t *testing.T) *connCounter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{ln: ln, conns: make(chan net.Conn, 100)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				close(c.conns)
				return
			}
			c.conns <- conn
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for conn := range c.conns {
			conn.Close()
		}
	})
	return c
}

// made returns how many connections were made before it was called: it
// connects once itself and counts the connections accepted before its
// own, which the listener's queue hands out in order.
func (c *connCounter) made(t *testing.T) int {
	marker, err := net.Dial("tcp", c.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	n := 0
	for conn := range c.conns {
		if conn.RemoteAddr().String() == marker.LocalAddr().String() {
			return n
		}
		n++
	}
	t.Fatal("the listener closed before the marker connection arrived")
	return 0
}

func TestUnknownServiceIsRefusedBeforeAnythingStarts(t *testing.T) {
	t.Parallel()
	servers := newConnCounter(t)
	addr := servers.ln.Addr().String()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "nosuch",
		"--redis-url", "redis://" + addr + "/0",
		"--database-url", "postgres://streamcart@" + addr + "/streamcart",
		"--identity-secret", strings.Repeat("ab", 32),
	}, &stdout, &stderr)

	if !errors.As(err, new(usageError)) {
		t.Fatalf("serve nosuch: %v, want a usage error", err)
	}
	for _, want := range append([]string{`"nosuch"`}, app.Services...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("serve nosuch: error %q does not name %s", err, want)
		}
	}
	if n := servers.made(t); n != 0 {
		t.Errorf("serve nosuch made %d connections to Redis or PostgreSQL, want none", n)
	}
	if stderr.Len() > 0 || stdout.Len() > 0 {
		t.Errorf("serve nosuch wrote stdout %q, stderr %q; want nothing before its error", stdout.String(), stderr.String())
	}
}

func TestServeLogsItsVersionAndConfigurationWithoutSecretsAndConsumersCarryTheService(t *testing.T) {
	t.Parallel()
	const (
		identitySecret = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
		operatorToken  = "operator-token-s3cret"
		dbPassword     = "database-s3cret" // trust authentication ignores it
	)
	db := databaseWithPassword(t, dbPassword)
	serve := start(t, "serve payments", "serve", "payments",
		"--redis-url", testenv.RedisURL(t), "--database-url", db.String(), "--orders-url", "http://127.0.0.1:1",
		"--identity-secret", identitySecret, "--operator-token", operatorToken,
		"--metrics-addr", "127.0.0.1:0", "--log-format", "json")
	serve.waitFor(t, "payments to serve and its consumer to start", func() bool {
		return strings.Contains(serve.stderr.String(), `"msg":"serving metrics"`) && strings.Contains(serve.stderr.String(), `"msg":"consumer started"`)
	})
	// Its metrics are where it says, on --metrics-addr.
	m := regexp.MustCompile(`"msg":"serving metrics",.*"url":"(http://127\.0\.0\.1:\d+/metrics)"`).FindStringSubmatch(serve.stderr.String())
	if m == nil {
		t.Fatalf("serve does not log where its metrics are:\n%s", serve.stderr.String())
	}
	if metrics, ok := testenv.ScrapeMetrics(t, m[1]); !ok {
		t.Errorf("GET %s does not answer 200", m[1])
	} else if _, ok := metrics.Value("streamcart_stream_messages_total", "group", "payments", "outcome", "processed"); !ok {
		t.Errorf("GET %s has no stream counts of payments", m[1])
	}
	serve.stop(t)

	logged := serve.stderr.String()
	for _, secret := range []string{identitySecret, operatorToken, dbPassword} {
		if strings.Contains(logged, secret) {
			t.Errorf("the log shows the secret %q:\n%s", secret, logged)
		}
	}
	var first struct {
		Msg     string
		Version string
		Config  map[string]string
	}
	if err := json.Unmarshal([]byte(firstLine(logged)), &first); err != nil {
		t.Fatalf("first log line: %v\n%s", err, logged)
	}
	if first.Msg != "starting" || first.Version == "" {
		t.Errorf("first log line has msg %q, version %q; want starting with a version", first.Msg, first.Version)
	}
	for key, want := range map[string]string{
		"identity-secret": "xxxxx",
		"operator-token":  "xxxxx",
		"database-url":    strings.Replace(db.String(), dbPassword, "xxxxx", 1),
		"log-format":      "json",
	} {
		if got := first.Config[key]; got != want {
			t.Errorf("logged config %s = %q, want %q", key, got, want)
		}
	}
	for line := range strings.Lines(logged) {
		var rec struct{ Service string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %v: %s", err, line)
			continue
		}
		if n := strings.Count(line, `"service":`); n != 1 {
			t.Errorf("log line has %d service attributes, want 1: %s", n, line)
		}
		if rec.Service != "payments" {
			t.Errorf("log line has service %q, want payments: %s", rec.Service, line)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
