package testenv

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// DeadAddr returns a loopback address where nothing listens, for a client
// of a server that is down: port 1, which the kernel never hands out for
// ephemeral binds, so that no parallel test's server can take it (as it
// could a port freed here).
func DeadAddr(tb testing.TB) string {
	tb.Helper()
	const addr = "127.0.0.1:1"
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		tb.Fatalf("testenv: something listens on %s", addr)
	}
	return addr
}

// Proxy is a TCP proxy on a loopback port to a server, for tests of what a
// client sees when its connection breaks in the middle of a request.
// BreakBefore and BreakAfter arm it to break the next connection that
// sends a given text, such as a PostgreSQL statement. A request must
// reach the proxy in one write to be recognised: for PostgreSQL, a
// statement without arguments, or a connection in
// pgx.QueryExecModeExec, sends each statement in one write.
type Proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	rule     *breakRule // nil while unarmed
	refusing bool
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// breakRule is what an armed Proxy does to the next client that sends
// text: drop it (before) or pass it on and drop the answer (after).
type breakRule struct {
	text  []byte
	after bool
	done  chan struct{}
}

// StartProxy starts a Proxy to target (host:port) and closes it, with
// every connection through it, when tb ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	tb.Cleanup(p.close)
	return p
}

// Addr returns the proxy's address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// BreakBefore arms p: the next write of a client that holds text is
// dropped, and that client's connection is closed. The client's write
// succeeded, so it cannot tell whether the server got the request; the
// server never did. It returns a channel closed once it has happened.
func (p *Proxy) BreakBefore(text string) <-chan struct{} { return p.arm(text, false) }

// BreakAfter arms p: the next write of a client that holds text is
// passed on to the server, and that client's connection is closed as
// soon as the server answers, without the answer. The server did what it
// was asked; the client never hears of it. The server's side of the
// connection stays open until the proxy closes, and what the server sends
// on it is read and dropped, so that the server finishes undisturbed. It
// returns a channel closed once the client's connection is closed.
func (p *Proxy) BreakAfter(text string) <-chan struct{} { return p.arm(text, true) }

// Refuse sets whether p ends each new connection at once, as a server
// that is down would. Connections made before are not affected.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refusing = on
	p.mu.Unlock()
}

func (p *Proxy) arm(text string, after bool) <-chan struct{} {
	r := &breakRule{text: []byte(text), after: after, done: make(chan struct{})}
	p.mu.Lock()
	p.rule = r
	p.mu.Unlock()
	return r.done
}

// take returns the armed rule, disarming p, if chunk holds its text.
func (p *Proxy) take(chunk []byte) *breakRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rule
	if r == nil || !bytes.Contains(chunk, r.text) {
		return nil
	}
	p.rule = nil
	return r
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		refusing := p.refusing
		p.mu.Unlock()
		if refusing {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		p.wg.Go(func() { p.pipe(client, server) })
	}
}

// track registers the connections to close with the proxy; false when it
// is closed already (and closes them).
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies between client and server until either ends, applying the
// armed rule to what the client sends.
func (p *Proxy) pipe(client, server net.Conn) {
	var (
		mu  sync.Mutex
		cut *breakRule // set once a BreakAfter rule matched: the next answer ends the client
	)
	toClient := make(chan struct{})
	go func() {
		defer close(toClient)
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			mu.Lock()
			r := cut
			mu.Unlock()
			if n > 0 && r != nil {
				client.Close()
				close(r.done)
				_, _ = io.Copy(io.Discard, server) // until the proxy closes
				return
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
			if err != nil {
				client.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			switch r := p.take(buf[:n]); {
			case r == nil:
			case r.after:
				mu.Lock()
				cut = r
				mu.Unlock()
			default:
				client.Close()
				server.Close()
				close(r.done)
				<-toClient
				return
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			// The client's end ends the server's, unless a cut is
			// pending: then the server's side stays open.
			mu.Lock()
			pending := cut != nil
			mu.Unlock()
			if !pending {
				server.Close()
			}
			<-toClient
			return
		}
	}
}

// close stops the proxy and closes every connection through it.
func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
