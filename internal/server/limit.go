package server

import (
	"net"
	"sync"
)

// limitListener hands out a connection only with one of slots, which the
// connection gives back when it closes; listeners may share slots. While
// every slot is taken, Accept holds the one connection it has taken and
// takes no other: the rest wait in the kernel's backlog, taking no file
// of the process. (Taking a slot before accepting would let an Accept
// waiting for a connection on one listener hold a slot the other needs.)
type limitListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{} // ends an Accept waiting for a slot
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, slots chan struct{}) *limitListener {
	return &limitListener{Listener: ln, slots: slots, closed: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		c.Close()
		return nil, net.ErrClosed
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, when first closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite lets net/http half-close the connection after refusing a
// body it did not read, so that its answer reaches the client before the
// connection is reset.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
