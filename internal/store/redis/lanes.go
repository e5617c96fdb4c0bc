package redis

import (
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The store's connections are lanes: each a go-redis client of its own,
// which one call at a time uses, so that it has one connection open; a
// call holds one lane while it runs.
//
// go-redis ends the wait for a reply at a deadline (the read timeout, or
// the context's: ContextTimeoutEnabled), not when a context is cancelled.
// A call given up on (see await) used to read on, holding its connection
// of one shared pool until the read timeout, although Redis may answer
// new connections long before (a failover that left the old connections
// hanging); a few such calls filled the pool, and the next calls, the
// renewal of a deploy's lease among them, waited for a connection and
// failed. Now, when await gives up on a call, it closes the connection of
// the call's lane: the read ends at once, the lane is free, and the next
// call on it dials again.
//
// Each lane's go-redis pool stops dialling after as many failed dials as
// its size, and answers its last dial error until a dial it tries each
// second succeeds (see newLanes). A single pool comes back as a whole at
// that dial; lanes came back each at its own, so that for up to a second
// after Redis was back a command could be refused as unreachable while
// the one before it, on another lane, worked. Now the lanes share what
// their dials found: a lane whose last dial failed before another lane's
// succeeded starts afresh, with a new client, before its next call.

// lane is one client, used by one call at a time, and the connections it
// dialled that are still open. rdb is replaced (see recover) only by the
// call holding the lane, under mu.
type lane struct {
	rdb   *goredis.Client
	mu    sync.Mutex
	conns map[*laneConn]struct{}
	// closed is set, under mu, once the store closes the lane: it makes
	// no client any more.
	closed bool

	// opt and hooks make the lane's client, again when it starts
	// afresh.
	opt   goredis.Options
	hooks []goredis.Hook
	// dials is shared by the store's lanes; failed is the number, in
	// dials.n, of this lane's last dial when it failed, 0 when it
	// succeeded.
	dials  *dials
	failed atomic.Uint64
}

// dials numbers the dials of a store's lanes, in the order they ended,
// and keeps the number of the last that succeeded. It is safe for
// concurrent use.
type dials struct {
	n  atomic.Uint64
	ok atomic.Uint64
}

// ended numbers a dial that just ended, and notes it when it succeeded.
func (d *dials) ended(err error) uint64 {
	n := d.n.Add(1)
	for err == nil {
		ok := d.ok.Load()
		if ok >= n || d.ok.CompareAndSwap(ok, n) {
			break
		}
	}
	return n
}

// newClient makes a client of the lane's options and hooks.
func (l *lane) newClient() *goredis.Client {
	o := l.opt
	if o.MaintNotificationsConfig != nil {
		c := *o.MaintNotificationsConfig
		o.MaintNotificationsConfig = &c
	}
	rdb := goredis.NewClient(&o)
	for _, h := range l.hooks {
		rdb.AddHook(h)
	}
	return rdb
}

// addHook adds h to the lane's client, and to those it makes later.
func (l *lane) addHook(h goredis.Hook) {
	l.hooks = append(l.hooks, h)
	l.rdb.AddHook(h)
}

// recover gives the lane a new client when its last dial failed and a
// dial of another lane has succeeded since: Redis answers again, and the
// old client may have stopped dialling for up to a second. The caller
// holds the lane.
func (l *lane) recover() {
	failed := l.failed.Load()
	if failed == 0 || l.dials.ok.Load() < failed {
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	old := l.rdb
	l.rdb = l.newClient()
	l.failed.Store(0)
	l.mu.Unlock()
	// Outside mu: closing its connections takes it. Its error (a
	// connection already closed) says nothing of the new client.
	old.Close()
}

// close closes the lane's client; it makes none after.
func (l *lane) close() error {
	l.mu.Lock()
	l.closed = true
	rdb := l.rdb
	l.mu.Unlock()
	return rdb.Close()
}

// laneConn is a connection of a lane, which it leaves when closed.
type laneConn struct {
	net.Conn
	l *lane
}

func (c *laneConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// NetConn returns the connection dialled, as crypto/tls does: go-redis
// looks through it for data waiting on a connection.
func (c *laneConn) NetConn() net.Conn { return c.Conn }

// laneSysConn is a laneConn of a connection that gives its file
// descriptor (TCP, not TLS), as it does: go-redis checks through it that
// an idle connection is still open before it sends a command on it, and
// would otherwise send one on a connection Redis closed as it restarted.
type laneSysConn struct{ *laneConn }

func (c laneSysConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// cut closes every open connection of l: a call reading a reply on one
// ends at once with an error.
func (l *lane) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Conn.Close()
		delete(l.conns, c)
	}
}

func (l *lane) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		n := l.dials.ended(err)
		if err != nil {
			l.failed.Store(n)
			return nil, err
		}
		l.failed.Store(0)
		lc := &laneConn{Conn: c, l: l}
		l.mu.Lock()
		l.conns[lc] = struct{}{}
		l.mu.Unlock()
		if _, ok := c.(syscall.Conn); ok {
			return laneSysConn{lc}, nil
		}
		return lc, nil
	}
}

func (l *lane) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }

func (l *lane) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// newLanes makes the lanes of the go-redis options ro: as many as the
// connections its pool would have (PoolSize, ?pool_size=; at most
// MaxActiveConns when set), the first MinIdleConns of them dialled ahead.
// A call waits for a free lane as long as go-redis waits for a pooled
// connection (PoolTimeout).
func newLanes(ro *goredis.Options) (lanes []*lane, wait time.Duration) {
	n := ro.PoolSize
	if n <= 0 {
		n = 10 * runtime.GOMAXPROCS(0)
	}
	if ro.MaxActiveConns > 0 && ro.MaxActiveConns < n {
		n = ro.MaxActiveConns
	}
	wait = ro.PoolTimeout
	if wait <= 0 {
		wait = ro.ReadTimeout + time.Second
	}
	shared := &dials{}
	for i := range n {
		o := *ro
		// One call at a time takes turns in the lane's pool, and the
		// size of the pool is the store's only so that go-redis stops
		// dialling as it would: after that many dials failed in a row,
		// until a dial it tries each second succeeds. With a pool of
		// one, a lane would stop at its first failed dial, and answer
		// "unreachable" for up to a second after Redis was back.
		o.PoolSize, o.MaxActiveConns, o.MaxIdleConns = n, 0, 0
		o.MinIdleConns = 0
		if i < ro.MinIdleConns {
			o.MinIdleConns = 1
		}
		o.PoolTimeout = wait
		// Pipelines and MULTIs on the lane's connection too, not on a
		// pool of their own.
		o.PipelinePoolSize = -1
		l := &lane{conns: make(map[*laneConn]struct{}), opt: o, dials: shared}
		l.rdb = l.newClient()
		l.addHook(l)
		lanes = append(lanes, l)
	}
	return lanes, wait
}

// take returns a free lane, waiting for one while ctx lets it, and at
// most s.laneWait: then it returns goredis.ErrPoolTimeout, as go-redis
// does for a pool with no free connection.
func (s *Store) take(ctx context.Context) (*lane, error) {
	select {
	case l := <-s.free:
		l.recover()
		return l, nil
	default:
	}
	t := time.NewTimer(s.laneWait)
	defer t.Stop()
	select {
	case l := <-s.free:
		l.recover()
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, goredis.ErrPoolTimeout
	}
}

// give frees l, which take returned.
func (s *Store) give(l *lane) { s.free <- l }
