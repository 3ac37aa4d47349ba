package servers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is the life cycle that Postgres and Redis share: one child
// process on a fixed port and directory, started by launch, stopped with
// stopSignal, killed or restarted, under one lock.
type server struct {
	name       string // "postgres" or "redis", in errors and logs
	dir        string
	logPath    string
	port       int
	log        *slog.Logger
	stopSignal syscall.Signal
	// launch starts the server's process and returns it once the server
	// is ready; on failure it leaves no process behind. mu is held.
	launch func(ctx context.Context) (*process, error)

	mu   sync.Mutex
	proc *process // nil while stopped
}

// Port returns the TCP port the server listens on. It is the same across
// restarts.
func (s *server) Port() int { return s.port }

// Dir returns the absolute data directory.
func (s *server) Dir() string { return s.dir }

// LogPath returns the server's log file.
func (s *server) LogPath() string { return s.logPath }

// PID returns the server's process id (PostgreSQL's postmaster), or 0
// while it is stopped.
func (s *server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid()
}

// Stop shuts the server down cleanly (PostgreSQL: fast shutdown, which
// ends open sessions and flushes committed data; Redis: SIGTERM, which
// flushes its append-only file) and waits for it to exit. If ctx ends
// first, Stop kills the server and returns an error. Stopping a stopped
// server does nothing.
func (s *server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stop(ctx)
}

// Kill sends SIGKILL to the server (PostgreSQL: the postmaster and all
// its backends) and waits for it to exit, as a crash would: PostgreSQL
// runs crash recovery at the next start, and Redis loses writes not yet
// fsynced. Killing a stopped server does nothing.
func (s *server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	s.proc.kill()
	s.log.Info(s.name+" killed", "pid", s.proc.pid())
	s.proc = nil
	return nil
}

// Restart stops the server if it is running, then starts it again on the
// same port and directory, from its files, and waits until it is ready.
func (s *server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stop(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", s.name, err)
	}
	// After a Kill, the old server's last processes may still hold its
	// port (or PostgreSQL's shared memory) for a moment on a loaded
	// machine, and the new one refuses to start: try again, within ctx.
	for attempt := 1; ; attempt++ {
		err := s.start(ctx)
		if err == nil {
			return nil
		}
		transient := strings.Contains(err.Error(), "shared memory block") || portTaken(err)
		if !transient || attempt == 10 || ctx.Err() != nil {
			return fmt.Errorf("restart %s: %w", s.name, err)
		}
		s.log.Warn(s.name+" did not start after a restart; retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("restart %s: %w", s.name, err)
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

// startPicked starts the server as start does. When its ports were
// picked free a moment before (picked), another process may have taken
// one since: then repick picks them again and it starts again, up to five
// times in all. s.mu must be held.
func (s *server) startPicked(ctx context.Context, picked bool, repick func() error) error {
	for attempt := 1; ; attempt++ {
		err := s.start(ctx)
		if err == nil || !picked || !portTaken(err) || attempt == 5 {
			return err
		}
		s.log.Warn(s.name+"'s port was taken meanwhile; picking another", "attempt", attempt, "err", err)
		if err := repick(); err != nil {
			return err
		}
	}
}

// start launches the server. s.mu must be held.
func (s *server) start(ctx context.Context) error {
	proc, err := s.launch(ctx)
	if err != nil {
		return err
	}
	s.proc = proc
	s.log.Info(s.name+" started", "port", s.port, "pid", proc.pid(), "dir", s.dir)
	return nil
}

// stop stops a running server with its stopSignal. s.mu must be held.
func (s *server) stop(ctx context.Context) error {
	return s.stopWith(ctx, s.stopSignal)
}

// stopWith stops a running server with sig and waits for it to exit.
// s.mu must be held.
func (s *server) stopWith(ctx context.Context, sig syscall.Signal) error {
	if s.proc == nil {
		return nil
	}
	pid := s.proc.pid()
	err := s.proc.stop(ctx, sig)
	s.proc = nil
	if err != nil {
		return fmt.Errorf("stop %s: %w", s.name, err)
	}
	s.log.Info(s.name+" stopped", "pid", pid)
	return nil
}
