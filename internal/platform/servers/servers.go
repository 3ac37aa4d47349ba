// Package servers runs local redis-server and PostgreSQL processes as
// children of the current process. It backs the managed servers of
// `streamcart dev` and the integration-test harness in platform/testenv.
//
// Every server listens on 127.0.0.1 only and keeps its data in a directory
// the caller chooses, so a later start on the same directory finds the same
// data. Servers run in their own process group: a Ctrl-C in the terminal
// reaches only the parent, which is expected to catch it and call Stop on
// each server in order. On Linux the kernel also signals a server when the
// parent dies without stopping it, so no server outlives a crashed parent.
//
// The package is written for Linux and other Unix systems.
package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// pollInterval is how often a starting server is probed for readiness.
const pollInterval = 50 * time.Millisecond

// process is one running child. The goroutine that starts the child is
// locked to its OS thread and stays on it until the child exits: Linux
// sends Pdeathsig when the thread that forked the child ends, not when the
// process does, and a thread ends whenever a goroutine locked to it returns
// (https://github.com/golang/go/issues/27505). Keeping the forking thread
// busy in Wait makes Pdeathsig mean "the parent process died".
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the child has exited and been reaped
	err  error         // result of Wait; read only after done is closed
}

// startProcess starts cmd and returns once it is running.
func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends this thread when the
		// goroutine returns, which is after the child has exited.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// StartChild starts cmd as the servers are started: on an OS thread kept
// until cmd exits, so that a Pdeathsig in its SysProcAttr means "this
// process died" and not "some thread ended" (see process). The channel
// gets cmd.Wait's result once cmd exits. For the tests' other children,
// such as Prometheus.
func StartChild(cmd *exec.Cmd) (<-chan error, error) {
	p, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() {
		<-p.done
		exited <- p.err
	}()
	return exited, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the child and waits for it to exit. If ctx ends first,
// it kills the child's process group and returns an error.
func (p *process) stop(ctx context.Context, sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal pid %d: %w", p.pid(), err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("pid %d exited: %w", p.pid(), p.err)
		}
		return nil
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("pid %d did not stop in time and was killed: %w", p.pid(), ctx.Err())
	}
}

// groupExitTimeout bounds how long kill waits for the rest of the process
// group (PostgreSQL backends, a Redis rewrite child) after the leader.
const groupExitTimeout = 5 * time.Second

// kill sends SIGKILL to the child's whole process group and waits until the
// child has exited and, within groupExitTimeout, the rest of the group too,
// so that a restart does not race against dying grandchildren.
func (p *process) kill() {
	if !p.exited() {
		// The group id is the child's pid (Setpgid with Pgid 0); it
		// cannot be reused while the child is unreaped.
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	}
	<-p.done
	deadline := time.Now().Add(groupExitTimeout)
	for groupAlive(p.pid()) && time.Now().Before(deadline) {
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		time.Sleep(10 * time.Millisecond)
	}
}

// launch starts the server cmd, writing its output to the log at logPath,
// in a process group of its own that gets deathSig (on Linux) when this
// process dies, and returns it once probe passes (waitReady). A server
// that does not get ready is killed.
func launch(ctx context.Context, cmd *exec.Cmd, name, logPath string, deathSig syscall.Signal, cred *syscall.Credential, timeout time.Duration, probe func(context.Context) error) (*process, error) {
	logFile, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr(deathSig, cred)
	proc, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, proc, name, logPath, timeout, probe); err != nil {
		proc.kill()
		return nil, err
	}
	return proc, nil
}

// waitReady polls probe until it succeeds, the child exits or timeout
// passes. On failure the error carries the tail of logPath.
func waitReady(ctx context.Context, p *process, name, logPath string, timeout time.Duration, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		// Checked first: select below picks at random among ready cases.
		if p.exited() {
			return fmt.Errorf("%s exited during startup (%v); %s", name, p.err, logTail(logPath))
		}
		err := probe(ctx)
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return fmt.Errorf("%s did not start: %w; %s", name, err, logTail(logPath))
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last probe: %v); %s", name, ctx.Err(), err, logTail(logPath))
		case <-tick.C:
		}
	}
}

// permanentError marks a readiness probe failure that retrying cannot fix,
// such as a PostgreSQL role that does not exist.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// logTailBytes is how much of a server log goes into a startup error.
const logTailBytes = 2048

// logTail returns the last lines of the log at path, labelled for an error.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("log %s: %v", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > logTailBytes {
		_, _ = f.Seek(-logTailBytes, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	if i := bytes.IndexByte(b, '\n'); len(b) == logTailBytes && i >= 0 {
		b = b[i+1:] // drop the partial first line
	}
	return fmt.Sprintf("log %s:\n%s", path, strings.TrimRight(string(b), "\n"))
}

// openLog opens path for appending, creating it if needed.
func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portTaken reports whether err is a server's refusal to start because
// its port is in use (its log says "Address already in use").
func portTaken(err error) bool {
	return err != nil && strings.Contains(err.Error(), "already in use")
}

// orDiscard returns log, or a logger that drops everything if log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
