package servers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// postgresReadyTimeout bounds how long StartPostgres and Restart wait for a
// connection; crash recovery after Kill happens within it.
const postgresReadyTimeout = 30 * time.Second

// PostgresOptions configures StartPostgres. Every field but Dir has a default.
type PostgresOptions struct {
	// Dir is the cluster's data directory. If it holds no cluster yet
	// (no PG_VERSION file), it is created and initialized with initdb; a
	// later start on the same Dir reuses the cluster. The server log is
	// written next to it, to Dir + ".log".
	//
	// When this process runs as root, PostgreSQL runs as the "postgres"
	// system user, which must be able to enter every parent of Dir: a
	// parent directory this package creates gets mode 0755, an existing one
	// must already allow it (for example /tmp does, a directory made by
	// os.MkdirTemp or t.TempDir does not until chmod 0755).
	Dir string

	// Port is the TCP port on 127.0.0.1. Zero picks a free port.
	Port int

	// User is the superuser role created by initdb; it connects with no
	// password (trust authentication on 127.0.0.1 only). Default
	// "streamcart".
	User string

	// Fast trades durability for speed, for tests: fsync, synchronous
	// commit and full page writes are off, and initdb does not sync. Kill
	// can then lose the last fraction of a second of commits, and a crash
	// of the machine can corrupt the cluster.
	Fast bool

	// FallbackRoot, when set, is where the cluster goes if this process
	// runs as root and the postgres user cannot enter Dir's parents (a
	// repository under /root, say): the cluster is created in
	// FallbackRoot/postgres-<hash of Dir> and Dir becomes a symbolic link
	// to it, so the data is still found through Dir and reused. When Dir
	// itself is deleted, the next start begins afresh. Empty: such a Dir
	// is an error that says what to do.
	FallbackRoot string

	// Logger receives lifecycle records. Nil discards them.
	Logger *slog.Logger
}

// Postgres is a PostgreSQL server running as a child process, listening on
// 127.0.0.1 only, with no Unix socket. Its methods are safe for concurrent
// use.
type Postgres struct {
	server
	binDir string
	user   string
	fast   bool
	runAs  *pgUser // nil unless this process is root
	// fallback is PostgresOptions.FallbackRoot.
	fallback string
}

// StartPostgres starts PostgreSQL, initializing the cluster first if Dir has
// none, and returns once a connection to database "postgres" succeeds,
// waiting at most about 30 seconds. The binaries come from
// $POSTGRES_BIN_DIR, else the directory of initdb on PATH, else the newest
// /usr/lib/postgresql/*/bin; if none exists the error is a *MissingError.
// StartPostgres fails if another live postmaster uses Dir. The caller must
// Stop the server.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	p, err := newPostgres(opts)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if err := p.prepareDir(ctx); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err = p.startPicked(ctx, opts.Port == 0, func() (err error) {
		p.port, err = freePort()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	return p, nil
}

func newPostgres(opts PostgresOptions) (*Postgres, error) {
	if opts.Dir == "" {
		return nil, errors.New("no Dir")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	binDir, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	runAs, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	pgUser := opts.User
	if pgUser == "" {
		pgUser = "streamcart"
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	p := &Postgres{
		server: server{
			name:    "postgres",
			dir:     dir,
			logPath: dir + ".log",
			port:    port,
			log:     orDiscard(opts.Logger),
			// SIGINT is PostgreSQL's fast shutdown.
			stopSignal: syscall.SIGINT,
		},
		binDir:   binDir,
		user:     pgUser,
		fast:     opts.Fast,
		runAs:    runAs,
		fallback: opts.FallbackRoot,
	}
	p.launch = p.run
	return p, nil
}

// URL returns a connection URL for database db,
// "postgres://user@127.0.0.1:port/db?sslmode=disable".
func (p *Postgres) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(p.user),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// StopImmediate shuts PostgreSQL down as `pg_ctl stop -m immediate` does,
// by sending SIGQUIT to the postmaster: every backend ends at once, open
// sessions break in the middle of whatever they were doing, and the next
// start (Restart) runs crash recovery, which keeps every committed
// transaction (unless Fast). It waits until the postmaster has exited,
// which it does once its backends have; if ctx ends first, it kills the
// server and returns an error. Stopping a stopped server does nothing.
func (p *Postgres) StopImmediate(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopWith(ctx, syscall.SIGQUIT)
}

// BinDir returns the directory of the PostgreSQL binaries in use.
func (p *Postgres) BinDir() string { return p.binDir }

// CreateDatabase creates database name owned by the superuser. It does
// nothing if the database already exists, so it suits a dev cluster that is
// reused across runs.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// prepareDir refuses a directory in use by a live postmaster, creates the
// directory, hands it to the postgres user when running as root, and runs
// initdb if it holds no cluster.
func (p *Postgres) prepareDir(ctx context.Context) error {
	if p.runAs != nil {
		if err := p.placeReachable(); err != nil {
			return err
		}
	}
	if pid, ok := livePostmaster(p.dir); ok {
		return fmt.Errorf("data dir %s in use by pid %d", p.dir, pid)
	}
	created, err := mkdirAll(p.dir)
	if err != nil {
		return err
	}
	for _, d := range created {
		if d == p.dir {
			continue
		}
		// A parent this package made: let the postgres user through
		// whatever the umask.
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	// PostgreSQL refuses a data directory that others can read.
	if err := os.Chmod(p.dir, 0o700); err != nil {
		return err
	}
	if p.runAs != nil {
		if err := checkTraversable(filepath.Dir(p.dir), p.runAs); err != nil {
			return err
		}
		if err := chownAll(p.dir, p.runAs); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(p.dir, "PG_VERSION")); err == nil {
		return nil
	}
	return p.initdb(ctx)
}

// initdb creates a cluster in p.dir.
func (p *Postgres) initdb(ctx context.Context) error {
	logFile, err := openLog(p.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{"-D", p.dir, "-U", p.user, "--auth=trust", "-E", "UTF8", "--locale=C"}
	if p.fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.binDir, "initdb"), args...)
	cmd.Dir = filepath.Dir(p.dir)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// No Pdeathsig: an orphaned initdb finishes on its own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.runAs.credential()}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %w; %s", err, logTail(p.logPath))
	}
	p.log.Info("postgres cluster initialized", "dir", p.dir, "duration", time.Since(start))
	return nil
}

// run starts the postmaster and returns it once it accepts connections.
func (p *Postgres) run(ctx context.Context) (*process, error) {
	args := []string{
		"-D", p.dir,
		"-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
	}
	if p.fast {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	cmd := exec.Command(filepath.Join(p.binDir, "postgres"), args...)
	cmd.Dir = p.dir
	// SIGQUIT is an immediate shutdown: the postmaster takes its backends
	// down with it.
	return launch(ctx, cmd, "postgres", p.logPath, syscall.SIGQUIT, p.runAs.credential(), postgresReadyTimeout, p.probe)
}

// probe connects to database "postgres". An error from the server other
// than "starting up" cannot go away by waiting.
func (p *Postgres) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code != "57P03" { // cannot_connect_now
			return permanentError{err}
		}
		return err
	}
	return conn.Close(ctx)
}

// livePostmaster returns the pid in dir/postmaster.pid and whether it is a
// running postgres process. A stale file left by a crash is not live.
func livePostmaster(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, processIsNamed(pid, "postgres")
}

// mkdirAll is os.MkdirAll that returns the directories it created, outermost
// first.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append([]string{d}, missing...)
		if d == filepath.Dir(d) {
			break
		}
	}
	for _, d := range missing {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	return missing, nil
}

// checkTraversable returns an error unless u can enter dir and every parent
// of it. u runs with its primary group only (supplementary groups are
// dropped when the credential is applied).
// placeReachable makes sure the postgres user can reach the cluster: a Dir
// linked to the fallback place earlier is followed; a new Dir whose
// parents the user cannot enter is created under the fallback root and
// linked. An existing Dir is left where it is (checked later).
func (p *Postgres) placeReachable() error {
	if target, err := filepath.EvalSymlinks(p.dir); err == nil && target != p.dir {
		p.dir = target
		return nil
	}
	parent := filepath.Dir(p.dir)
	unreachable := checkTraversable(parent, p.runAs)
	if unreachable == nil || p.fallback == "" {
		return nil
	}
	if _, err := os.Lstat(p.dir); err == nil {
		return unreachable // existing data is not moved behind the user's back
	}
	sum := sha256.Sum256([]byte(p.dir))
	alt := filepath.Join(p.fallback, "postgres-"+hex.EncodeToString(sum[:6]))
	// Dir is gone: whatever is still at alt belonged to it and was meant
	// to go with it.
	if err := os.RemoveAll(alt); err != nil {
		return err
	}
	created, err := mkdirAll(filepath.Dir(alt))
	if err != nil {
		return err
	}
	for _, d := range created {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	if err := checkTraversable(filepath.Dir(alt), p.runAs); err != nil {
		return fmt.Errorf("fallback for %s: %w", p.dir, err)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(alt, p.dir); err != nil {
		return err
	}
	p.log.Info("the postgres user cannot enter the data dir's parents; the cluster lives elsewhere, linked from the data dir",
		"dir", p.dir, "cluster", alt, "reason", unreachable)
	p.dir = alt
	return nil
}

func checkTraversable(dir string, u *pgUser) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		var bit fs.FileMode = 0o001
		switch {
		case st.Uid == u.uid:
			bit = 0o100
		case st.Gid == u.gid:
			bit = 0o010
		}
		if fi.Mode().Perm()&bit == 0 {
			return fmt.Errorf("PostgreSQL runs as user %q because it refuses to run as root, but that user cannot enter %s (mode %s); use a data dir whose parents allow it (chmod o+x %s)",
				u.name, d, fi.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// chownAll gives dir and everything in it to u, so that a cluster touched by
// another user can be reused.
func chownAll(dir string, u *pgUser) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(u.uid), int(u.gid))
	})
}

// credential returns the credential to run PostgreSQL with, or nil to run
// it as the current user.
func (u *pgUser) credential() *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid}
}
