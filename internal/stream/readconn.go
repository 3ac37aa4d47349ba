package stream

import "github.com/redis/go-redis/v9"

// readerClients are the clients of a reader's blocking connections, one
// per node it has read from, apart from the service's client: a
// connection taken from the service's pool (Client.Conn) would hold one
// of its slots for as long as the consumer runs, and with a reader per
// partition, stream and group the readers could take the whole pool (by
// default 10 per CPU) and leave none for the handlers' commands.
type readerClients map[string]*redis.Client

// conn returns a new connection to node, of a client of its own with
// node's options and a pool of one.
func (rc *readerClients) conn(node *redis.Client) *redis.Conn {
	opt := node.Options()
	cl := (*rc)[opt.Addr]
	if cl == nil {
		o := *opt
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = 1, 0, 1, 1
		cl = redis.NewClient(&o)
		if *rc == nil {
			*rc = readerClients{}
		}
		(*rc)[opt.Addr] = cl
	}
	return cl.Conn()
}

// close closes the clients, once their connections are closed.
func (rc readerClients) close() {
	for _, cl := range rc {
		_ = cl.Close()
	}
}
