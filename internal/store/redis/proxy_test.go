package redis_test

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// faultProxy forwards TCP connections to a Redis server and, when armed,
// keeps the reply to one request from the client although the server
// applied the request: the lost reply of a dropped connection or of a read
// timeout.
type faultProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	match  []byte // the armed fault waits for a request containing this
	stall  bool   // hold the reply back and keep the connection open, rather than close it
	faults int    // replies kept back so far
	conns  map[net.Conn]struct{}
}

func newFaultProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.serve()
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

// URL is a redis:// URL that reaches the server through the proxy.
func (p *faultProxy) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

// dropNextReply arms the proxy: the next request containing match reaches
// the server, and then the connection is closed before the (non-error)
// reply reaches the client.
func (p *faultProxy) dropNextReply(match string) { p.arm(match, false) }

// stallNextReply is dropNextReply, but the reply is never sent and the
// connection stays open, like a server that stopped answering.
func (p *faultProxy) stallNextReply(match string) { p.arm(match, true) }

func (p *faultProxy) arm(match string, stall bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.match, p.stall = []byte(match), stall
}

// Faults is how many replies the proxy kept back.
func (p *faultProxy) Faults() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *faultProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *faultProxy) handle(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.track(client, server)
	closeBoth := func() {
		client.Close()
		server.Close()
	}
	// victim is set once a request of this connection matched; 0 none,
	// 1 drop, 2 stall. It is set before the request is forwarded, so
	// before its reply can come back.
	var mu sync.Mutex
	victim := 0
	go func() {
		defer closeBoth()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				p.mu.Lock()
				if p.match != nil && bytes.Contains(buf[:n], p.match) {
					mu.Lock()
					victim = 1
					if p.stall {
						victim = 2
					}
					mu.Unlock()
					p.match = nil
				}
				p.mu.Unlock()
				if _, err := server.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer closeBoth()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			mu.Lock()
			v := victim
			// An error reply (such as NOSCRIPT) means nothing was applied:
			// let it through and wait for the next one.
			if v != 0 && buf[0] != '-' && buf[0] != '!' {
				victim = 0
				mu.Unlock()
				p.mu.Lock()
				p.faults++
				p.mu.Unlock()
				if v == 1 {
					return
				}
				// Stall: swallow everything until the client gives up.
				_, _ = io.Copy(io.Discard, server)
				return
			}
			mu.Unlock()
			if _, err := client.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
