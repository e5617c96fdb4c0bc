package redis_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
)

// faultProxy forwards TCP connections to a Redis server and, when armed,
// keeps the reply to one request from the client although the server
// applied the request: the lost reply of a dropped connection, or of a
// caller that gave up waiting for it. Or it holds one request back from
// the server until told to send it: a connection whose packets are delayed
// while others pass.
//
// A caller gives up when the proxy calls the cancel function of its
// context, once the request was applied (or held back), not when a
// deadline passes, which on a loaded machine may come before the request
// reached Redis at all. The proxy then closes the connection: go-redis
// stops reading a reply at a deadline, not when a context is canceled.
type faultProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	match  []byte // the armed fault waits for a request containing this
	giveUp func() // with a stall, cancels the caller's context; nil: drop
	keep   bool   // with a stall, the connection stays open after giveUp
	faults int    // replies kept back so far
	hold   *heldRequest
	conns  map[net.Conn]struct{}
	closed chan struct{} // closed as the test ends: nothing is held any more
}

// heldRequest is a request the proxy keeps from the server until release
// is closed.
type heldRequest struct {
	match   []byte
	giveUp  func()        // cancels the context of the request's caller
	caught  chan struct{} // closed once a request matched
	release chan struct{} // closed to send it on
	reply   chan []byte   // the server's reply to it
	replied chan struct{} // closed once the reply came
}

func newFaultProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{}), closed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.serve()
	}()
	t.Cleanup(func() {
		close(p.closed)
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
func (p *faultProxy) dropNextReply(match string) { p.arm(match, nil) }

// stallNextReply is dropNextReply, but the caller gives up first: once
// the server's reply is kept back, giveUp (the cancel of the caller's
// context) is called, and then the connection is closed, like a server
// that stopped answering until its client gave up.
func (p *faultProxy) stallNextReply(match string, giveUp context.CancelFunc) {
	p.arm(match, giveUp)
}

// hangNextReply is stallNextReply, but the connection stays open, the
// reply kept back, until the test ends: a Redis that stopped answering
// without closing anything, which the client sees only at its read
// deadline.
func (p *faultProxy) hangNextReply(match string, giveUp context.CancelFunc) {
	p.arm(match, giveUp)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keep = true
}

// holdNextRequest arms the proxy: the next request containing match is
// kept from the server; once caught, giveUp (the cancel of its caller's
// context) is called and the client's side of the connection is closed,
// like a client that gave up waiting. release sends the request on and
// returns the server's reply to it. It fails t if no request matched.
func (p *faultProxy) holdNextRequest(t testing.TB, match string, giveUp context.CancelFunc) (release func() string) {
	t.Helper()
	h := &heldRequest{
		match:   []byte(match),
		giveUp:  giveUp,
		caught:  make(chan struct{}),
		release: make(chan struct{}),
		reply:   make(chan []byte, 1),
		replied: make(chan struct{}),
	}
	p.mu.Lock()
	p.hold = h
	p.mu.Unlock()
	return func() string {
		t.Helper()
		select {
		case <-h.caught:
		default:
			t.Fatalf("no request held back (the test did not exercise a delayed request)")
		}
		close(h.release)
		return string(<-h.reply)
	}
}

func (p *faultProxy) arm(match string, giveUp func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.match, p.giveUp, p.keep = []byte(match), giveUp, false
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
	// victim is set once a request of this connection matched, with the
	// giveUp of a stall (nil for a drop). It is set before the request is
	// forwarded, so before its reply can come back.
	var mu sync.Mutex
	var victim, keep bool
	var giveUp func()
	// held is the request of this connection held back, once sent on:
	// the next reply is its.
	var held *heldRequest
	go func() {
		defer closeBoth()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				p.mu.Lock()
				if h := p.hold; h != nil && bytes.Contains(buf[:n], h.match) {
					p.hold = nil
					p.mu.Unlock()
					close(h.caught)
					// The caller gives up before its connection ends:
					// ended first, go-redis would send the request again.
					h.giveUp()
					client.Close()
					select {
					case <-h.release:
					case <-p.closed:
						return
					}
					mu.Lock()
					held = h
					mu.Unlock()
					if _, err := server.Write(buf[:n]); err != nil {
						return
					}
					// Keep the server's side open until the reply came (the
					// client is likely gone), and then close both.
					select {
					case <-h.replied:
					case <-p.closed:
					}
					return
				}
				if p.match != nil && bytes.Contains(buf[:n], p.match) {
					mu.Lock()
					victim, giveUp, keep = true, p.giveUp, p.keep
					mu.Unlock()
					p.match, p.giveUp, p.keep = nil, nil, false
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
			if h := held; h != nil {
				held = nil
				mu.Unlock()
				h.reply <- bytes.Clone(buf[:n])
				close(h.replied)
				return
			}
			// An error reply (such as NOSCRIPT) means nothing was applied:
			// let it through and wait for the next one.
			if victim && buf[0] != '-' && buf[0] != '!' {
				g, k := giveUp, keep
				victim, giveUp, keep = false, nil, false
				mu.Unlock()
				p.mu.Lock()
				p.faults++
				p.mu.Unlock()
				if g != nil {
					// Stall: the caller gives up before its connection
					// ends, so go-redis does not send the request again.
					g()
				}
				if k {
					<-p.closed
				}
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
