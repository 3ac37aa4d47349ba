package servers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"streamcart/internal/platform/redisacl"
)

// redisReadyTimeout bounds how long StartRedis and Restart wait for PING.
const redisReadyTimeout = 10 * time.Second

// RedisOptions configures StartRedis. Every field but Dir has a default.
type RedisOptions struct {
	// Dir holds the append-only files and redis.log. It is created if
	// missing, and a later start on the same Dir loads its data.
	Dir string

	// Port is the TCP port on 127.0.0.1. Zero picks a free port.
	Port int

	// AppendFsync is the appendfsync policy: "always", "everysec" or
	// "no". Default "everysec": a crash loses at most about a second of
	// writes.
	AppendFsync string

	// Logger receives lifecycle records. Nil discards them.
	Logger *slog.Logger

	// AdminPassword is the password of the default user, which may do
	// everything. Empty: the default user needs none, as Redis has it.
	// Required when Users are given.
	AdminPassword string

	// Users are ACL users besides the default one (Redis 7 or later).
	// StartRedis writes them, with the default user, to the ACL file
	// users.acl in Dir (readable by the owner only, and holding password
	// hashes only), which Redis loads at every start: users are the ones
	// of the last StartRedis.
	Users []redisacl.User

	// ClusterNodeTimeout, when not zero, runs the server as a Redis
	// Cluster node (cluster-enabled, its state in nodes.conf in Dir)
	// with this cluster-node-timeout. StartRedisCluster forms nodes
	// into a cluster.
	ClusterNodeTimeout time.Duration

	// ClusterBusPort is a cluster node's bus port on 127.0.0.1. Zero
	// picks a free port (Redis's default, Port+10000, may be past 65535).
	ClusterBusPort int

	// pickPort picks the ports that are zero; nil is freePort. Tests
	// set it to pick a port that is taken.
	pickPort func() (int, error)
}

// Redis is a redis-server running as a child process, bound to 127.0.0.1,
// with append-only persistence and protected mode on. Its methods are safe
// for concurrent use.
type Redis struct {
	server
	bin     string
	fsync   string
	admin   string // the default user's password, or ""
	aclFile string // "" without Users
	users   []redisacl.User
	// nodeTimeout and busPort are a cluster node's; zero otherwise.
	nodeTimeout time.Duration
	busPort     int
	confFile    string
}

// StartRedis starts redis-server and returns once it answers PING, waiting
// at most about 10 seconds. The binary is $REDIS_SERVER_BIN or redis-server
// on PATH; if neither exists the error is a *MissingError. The caller must
// Stop the server.
func StartRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	if opts.Dir == "" {
		return nil, errors.New("start redis: no Dir")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	fsync := opts.AppendFsync
	switch fsync {
	case "":
		fsync = "everysec"
	case "always", "everysec", "no":
	default:
		return nil, fmt.Errorf("start redis: AppendFsync %q is not always, everysec or no", fsync)
	}
	bin, err := redisBinary()
	if err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	if len(opts.Users) > 0 && opts.AdminPassword == "" {
		return nil, errors.New("start redis: Users need an AdminPassword, or anyone could connect as the default user")
	}
	var aclFile string
	if opts.AdminPassword != "" {
		aclFile = filepath.Join(dir, "users.acl")
		if err := writeACLFile(aclFile, opts.AdminPassword, opts.Users); err != nil {
			return nil, fmt.Errorf("start redis: %w", err)
		}
	}
	var confFile string
	if opts.ClusterNodeTimeout > 0 {
		// A replica signs in to its primary as the default user. The
		// password goes in a file of the owner's, not on the command
		// line, which anyone may read.
		confFile = filepath.Join(dir, "replication.conf")
		conf := ""
		if opts.AdminPassword != "" {
			conf = "masteruser default\nmasterauth " + strconv.Quote(opts.AdminPassword) + "\n"
		}
		if err := writePrivate(confFile, []byte(conf)); err != nil {
			return nil, fmt.Errorf("start redis: %w", err)
		}
	}
	pick := opts.pickPort
	if pick == nil {
		pick = freePort
	}
	port := opts.Port
	if port == 0 {
		if port, err = pick(); err != nil {
			return nil, fmt.Errorf("start redis: %w", err)
		}
	}
	busPort := opts.ClusterBusPort
	if opts.ClusterNodeTimeout > 0 && busPort == 0 {
		if busPort, err = pick(); err != nil {
			return nil, fmt.Errorf("start redis: %w", err)
		}
	}
	r := &Redis{
		nodeTimeout: opts.ClusterNodeTimeout,
		confFile:    confFile,
		busPort:     busPort,
		server: server{
			name:       "redis",
			dir:        dir,
			logPath:    filepath.Join(dir, "redis.log"),
			port:       port,
			log:        orDiscard(opts.Logger),
			stopSignal: syscall.SIGTERM, // Redis flushes its append-only file
		},
		bin:     bin,
		fsync:   fsync,
		admin:   opts.AdminPassword,
		aclFile: aclFile,
		users:   opts.Users,
	}
	r.launch = r.run
	r.mu.Lock()
	defer r.mu.Unlock()
	picked := opts.Port == 0 || (opts.ClusterNodeTimeout > 0 && opts.ClusterBusPort == 0)
	err = r.startPicked(ctx, picked, func() (err error) {
		if opts.Port == 0 {
			if r.port, err = pick(); err != nil {
				return err
			}
		}
		if opts.ClusterNodeTimeout > 0 && opts.ClusterBusPort == 0 {
			r.busPort, err = pick()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	return r, nil
}

// Addr returns the server's address, "127.0.0.1:port".
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL returns a URL for database 0, "redis://127.0.0.1:port/0", with the
// default user's credentials when it has a password.
func (r *Redis) URL() string { return adminURL("redis://"+r.Addr()+"/0", r.admin) }

// UserURL returns the URL of database 0 with the credentials of user
// name, one of the options' Users.
func (r *Redis) UserURL(name string) (string, error) {
	return userURL("redis://"+r.Addr()+"/0", r.users, name)
}

// adminURL returns base with the default user's credentials when it has
// a password (admin).
func adminURL(base, admin string) string {
	if admin == "" {
		return base
	}
	u, _ := redisacl.User{Name: "default", Password: admin}.URL(base) // base is a redis or cluster URL
	return u
}

// userURL returns base with the credentials of user name, one of users.
func userURL(base string, users []redisacl.User, name string) (string, error) {
	for _, u := range users {
		if u.Name == name {
			return u.URL(base)
		}
	}
	return "", fmt.Errorf("redis has no user %q", name)
}

// writeACLFile writes the ACL file of the default user, with password
// admin, and users to path, readable by its owner only.
func writeACLFile(path, admin string, users []redisacl.User) error {
	b, err := redisacl.File(admin, users)
	if err != nil {
		return err
	}
	if err := writePrivate(path, b); err != nil {
		return fmt.Errorf("write ACL file: %w", err)
	}
	return nil
}

// writePrivate replaces the file at path with b, readable by its owner
// only.
func writePrivate(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// run starts redis-server and returns it once it answers PING.
func (r *Redis) run(ctx context.Context) (*process, error) {
	var args []string
	if r.confFile != "" {
		args = append(args, r.confFile) // a configuration file comes first
	}
	args = append(args,
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(r.port),
		"--protected-mode", "yes",
		"--daemonize", "no",
		"--dir", r.dir,
		"--appendonly", "yes",
		"--appendfsync", r.fsync,
		"--save", "",
		"--logfile", "", // stdout, which is redis.log
	)
	if r.aclFile != "" {
		args = append(args, "--aclfile", r.aclFile)
	}
	if r.nodeTimeout > 0 {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(r.nodeTimeout.Milliseconds(), 10),
			"--cluster-port", strconv.Itoa(r.busPort),
			// The slots of the other primaries stay served while one
			// primary's replica takes over.
			"--cluster-require-full-coverage", "no",
			// A primary asked to stop waits at most this long (seconds)
			// for its replicas to catch up: each node keeps its own
			// append-only file, and a stop must not outlast its deadline.
			"--shutdown-timeout", "2",
		)
	}
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	return launch(ctx, cmd, "redis-server", r.logPath, syscall.SIGKILL, nil, redisReadyTimeout, r.ping)
}

// respCommand encodes a command in RESP, as an array of bulk strings.
func respCommand(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// ping sends PING on a fresh connection and expects PONG. While Redis is
// loading its append-only file it answers -LOADING instead.
func (r *Redis) ping(ctx context.Context) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", r.Addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	rd := bufio.NewReader(conn)
	if r.admin != "" {
		if _, err := conn.Write(respCommand("AUTH", "default", r.admin)); err != nil {
			return err
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		switch line = strings.TrimSpace(line); {
		case strings.HasPrefix(line, "-WRONGPASS"):
			// Wrong credentials do not come right by waiting.
			return permanentError{fmt.Errorf("AUTH answered %q", line)}
		case line != "+OK":
			return fmt.Errorf("AUTH answered %q", line)
		}
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
