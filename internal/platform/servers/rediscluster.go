package servers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/redisacl"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// RedisClusterOptions configures StartRedisCluster. Every field but Dir
// has a default.
type RedisClusterOptions struct {
	// Dir holds one directory per node (node-0, node-1, ...) and the
	// nodes' ports (ports), so that a later start on the same Dir finds
	// the same cluster and its data.
	Dir string

	// Primaries is the number of primaries, which share the slots
	// evenly. Default 3.
	Primaries int

	// ReplicasPerPrimary is the number of replicas of each primary.
	// Default 1; -1 means none.
	ReplicasPerPrimary int

	// NodeTimeout is cluster-node-timeout: how long a primary may be
	// unreachable before its replica takes over. Default 2s.
	NodeTimeout time.Duration

	// BasePort, if not zero, is the first node's port; the others follow
	// it. Zero picks free ports.
	BasePort int

	// AppendFsync, Logger, AdminPassword and Users are as in
	// RedisOptions, for every node: each node loads the same ACL file.
	AppendFsync   string
	Logger        *slog.Logger
	AdminPassword string
	Users         []redisacl.User
}

// RedisCluster is a Redis Cluster of redis-server children on 127.0.0.1:
// primaries and their replicas, every node with append-only persistence
// and the same ACL users. Its methods are safe for concurrent use.
type RedisCluster struct {
	nodes []*Redis
	admin string
	users []redisacl.User
	log   *slog.Logger
}

// clusterReadyTimeout bounds how long StartRedisCluster waits for the
// nodes to agree on the cluster (cluster_state:ok everywhere).
const clusterReadyTimeout = time.Minute

// StartRedisCluster starts the nodes, forms them into a cluster the first
// time (slots split evenly among the primaries, each replica following
// its primary), and returns once every node reports cluster_state:ok and
// every replica is in sync. On error no node is left running. The caller
// must Stop the cluster.
func StartRedisCluster(ctx context.Context, opts RedisClusterOptions) (_ *RedisCluster, err error) {
	if opts.Dir == "" {
		return nil, errors.New("start redis cluster: no Dir")
	}
	primaries := opts.Primaries
	if primaries == 0 {
		primaries = 3
	}
	replicas := opts.ReplicasPerPrimary
	switch {
	case replicas == 0:
		replicas = 1
	case replicas < 0:
		replicas = 0
	}
	if primaries < 1 || primaries > 100 || replicas > 5 {
		return nil, fmt.Errorf("start redis cluster: %d primaries with %d replicas each is not between 1 and 100 with at most 5", primaries, replicas)
	}
	timeout := opts.NodeTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	n := primaries * (1 + replicas)
	ports, err := clusterPorts(opts.Dir, n, opts.BasePort)
	if err != nil {
		return nil, fmt.Errorf("start redis cluster: %w", err)
	}
	c := &RedisCluster{admin: opts.AdminPassword, users: opts.Users, log: orDiscard(opts.Logger)}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = c.Stop(stopCtx)
		}
	}()
	for i := range n {
		var port [2]int // zero: StartRedis picks free ones
		if ports != nil {
			port = ports[i]
		}
		node, err := StartRedis(ctx, RedisOptions{
			Dir:                filepath.Join(opts.Dir, "node-"+strconv.Itoa(i)),
			Port:               port[0],
			ClusterBusPort:     port[1],
			ClusterNodeTimeout: timeout,
			AppendFsync:        opts.AppendFsync,
			Logger:             opts.Logger,
			AdminPassword:      opts.AdminPassword,
			Users:              opts.Users,
		})
		if err != nil {
			return nil, fmt.Errorf("start redis cluster: node %d: %w", i, err)
		}
		c.nodes = append(c.nodes, node)
	}
	if ports == nil {
		if err := c.writePorts(opts.Dir); err != nil {
			return nil, fmt.Errorf("start redis cluster: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
	if err := c.form(ctx, primaries); err != nil {
		return nil, fmt.Errorf("start redis cluster: %w", err)
	}
	if err := c.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("start redis cluster: %w", err)
	}
	c.log.Info("redis cluster ready", "primaries", primaries, "replicas_per_primary", replicas, "url", c.addrList())
	return c, nil
}

// clusterPorts returns the port and bus port of each of n nodes: the ones
// a former start wrote to dir's ports file, or from base on (which it
// writes there), or nil for a new cluster on free ports: its nodes pick
// their own (StartRedis, which picks again should another process take
// one first), and writePorts records them.
func clusterPorts(dir string, n, base int) ([][2]int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "ports")
	if b, err := os.ReadFile(path); err == nil {
		var ports [][2]int
		for line := range strings.Lines(string(b)) {
			var p [2]int
			if _, err := fmt.Sscanf(line, "%d %d", &p[0], &p[1]); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			ports = append(ports, p)
		}
		if len(ports) != n {
			return nil, fmt.Errorf("%s has %d nodes, not %d: the cluster in %s has another shape", path, len(ports), n, dir)
		}
		return ports, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if base == 0 {
		return nil, nil
	}
	ports := make([][2]int, n)
	for i := range ports {
		ports[i] = [2]int{base + i, base + n + i}
	}
	return ports, savePorts(path, ports)
}

// writePorts records the ports of the cluster's nodes in dir's ports
// file, for clusterPorts.
func (c *RedisCluster) writePorts(dir string) error {
	ports := make([][2]int, len(c.nodes))
	for i, n := range c.nodes {
		ports[i] = [2]int{n.port, n.busPort}
	}
	return savePorts(filepath.Join(dir, "ports"), ports)
}

// savePorts writes ports to path, a node a line.
func savePorts(path string, ports [][2]int) error {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%d %d\n", p[0], p[1])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// Nodes returns the nodes, primaries first as they were formed (node i <
// Primaries); after a failover a replica may be the primary.
func (c *RedisCluster) Nodes() []*Redis { return c.nodes }

// Node returns the node at addr ("127.0.0.1:port"), or nil.
func (c *RedisCluster) Node(addr string) *Redis {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

func (c *RedisCluster) addrList() string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return strings.Join(addrs, ",")
}

// URL returns the cluster's URL, "redis+cluster://127.0.0.1:p1,...,/"
// with every node as a seed, with the default user's credentials when it
// has a password.
func (c *RedisCluster) URL() string { return adminURL("redis+cluster://"+c.addrList()+"/", c.admin) }

// UserURL returns the cluster's URL with the credentials of user name,
// one of the options' Users.
func (c *RedisCluster) UserURL(name string) (string, error) {
	return userURL("redis+cluster://"+c.addrList()+"/", c.users, name)
}

// Stop stops every node (see Redis.Stop) and returns their errors.
func (c *RedisCluster) Stop(ctx context.Context) error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.Stop(ctx))
	}
	return errors.Join(errs...)
}

// admin returns an administrative client of node n, to be closed.
func (c *RedisCluster) adminClient(n *Redis) *redis.Client {
	opt := &redis.Options{Addr: n.Addr(), DialTimeout: time.Second, ReadTimeout: 5 * time.Second, MaxRetries: -1}
	if c.admin != "" {
		opt.Username, opt.Password = "default", c.admin
	}
	return redis.NewClient(opt)
}

// each runs fn with an administrative client of every running node.
func (c *RedisCluster) each(ctx context.Context, fn func(ctx context.Context, n *Redis, rdb *redis.Client) error) error {
	for _, n := range c.nodes {
		if n.PID() == 0 {
			continue
		}
		rdb := c.adminClient(n)
		err := fn(ctx, n, rdb)
		rdb.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Addr(), err)
		}
	}
	return nil
}

// setConfigEpoch gives a new node its config epoch, which Redis allows
// only while the node knows no other. A node of another cluster on this
// machine that once had a peer on this port (a cluster stopped or failed
// over while its nodes were being introduced) may have met this one
// already: the node forgets it (CLUSTER RESET SOFT keeps its id and its
// epochs) and is given the epoch once more.
func setConfigEpoch(ctx context.Context, rdb *redis.Client, epoch int) error {
	err := rdb.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", epoch).Err()
	if err == nil || !strings.Contains(err.Error(), "does not know any other node") {
		return err
	}
	if err := rdb.Do(ctx, "CLUSTER", "RESET", "SOFT").Err(); err != nil {
		return err
	}
	return rdb.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", epoch).Err()
}

// form makes the nodes one cluster, unless they already are one (a start
// on the data of a former one): it gives each primary its share of the
// slots, introduces every node to the first, waits until all know each
// other, and makes the rest replicas of the primaries in turn.
func (c *RedisCluster) form(ctx context.Context, primaries int) error {
	known := 0
	ids := make([]string, len(c.nodes))
	i := 0
	err := c.each(ctx, func(ctx context.Context, n *Redis, rdb *redis.Client) error {
		info, err := clusterInfo(ctx, rdb)
		if err != nil {
			return err
		}
		if info["cluster_known_nodes"] == strconv.Itoa(len(c.nodes)) {
			known++
		}
		ids[i], err = rdb.Do(ctx, "CLUSTER", "MYID").Text()
		i++
		return err
	})
	if err != nil {
		return err
	}
	if known == len(c.nodes) {
		return nil // formed before
	}
	first := c.nodes[0]
	for i, n := range c.nodes {
		rdb := c.adminClient(n)
		err := func() error {
			defer rdb.Close()
			// Distinct epochs keep the first election free of collisions.
			if err := setConfigEpoch(ctx, rdb, i+1); err != nil {
				return fmt.Errorf("set config epoch: %w", err)
			}
			if i < primaries {
				lo, hi := i*clusterSlots/primaries, (i+1)*clusterSlots/primaries-1
				if err := rdb.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
					return fmt.Errorf("add slots %d-%d: %w", lo, hi, err)
				}
			}
			if i > 0 {
				if err := rdb.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", first.Port(), first.busPort).Err(); err != nil {
					return fmt.Errorf("meet: %w", err)
				}
			}
			return nil
		}()
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Addr(), err)
		}
	}
	// A replica can follow a primary only once it knows it.
	if err := c.poll(ctx, "every node knows every other", func(ctx context.Context) error {
		return c.each(ctx, func(ctx context.Context, n *Redis, rdb *redis.Client) error {
			nodes, err := rdb.ClusterNodes(ctx).Result()
			if err != nil {
				return err
			}
			if got := strings.Count(nodes, "\n"); got != len(c.nodes) || strings.Contains(nodes, "handshake") {
				return fmt.Errorf("knows %d nodes of %d (or is still in handshake)", got, len(c.nodes))
			}
			return nil
		})
	}); err != nil {
		return err
	}
	for i := primaries; i < len(c.nodes); i++ {
		rdb := c.adminClient(c.nodes[i])
		err := rdb.ClusterReplicate(ctx, ids[i%primaries]).Err()
		rdb.Close()
		if err != nil {
			return fmt.Errorf("node %s: replicate %s: %w", c.nodes[i].Addr(), ids[i%primaries], err)
		}
	}
	return nil
}

// WaitReady waits until every running node reports cluster_state:ok with
// all slots served and every running replica has finished its sync with
// its primary, or ctx ends.
func (c *RedisCluster) WaitReady(ctx context.Context) error {
	return c.poll(ctx, "cluster_state:ok on every node", func(ctx context.Context) error {
		return c.each(ctx, func(ctx context.Context, n *Redis, rdb *redis.Client) error {
			info, err := clusterInfo(ctx, rdb)
			if err != nil {
				return err
			}
			if info["cluster_state"] != "ok" || info["cluster_slots_ok"] != strconv.Itoa(clusterSlots) {
				return fmt.Errorf("cluster_state:%s, cluster_slots_ok:%s", info["cluster_state"], info["cluster_slots_ok"])
			}
			repl, err := rdb.Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return errors.New("replica not in sync with its primary yet")
			}
			return nil
		})
	})
}

// poll calls check every pollInterval until it returns nil or ctx ends.
func (c *RedisCluster) poll(ctx context.Context, what string, check func(context.Context) error) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// clusterInfo returns CLUSTER INFO's fields.
func clusterInfo(ctx context.Context, rdb *redis.Client) (map[string]string, error) {
	s, err := rdb.ClusterInfo(ctx).Result()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for line := range strings.Lines(s) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}
