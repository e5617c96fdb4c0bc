package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// warmPool holds connections whose session has closed, at most one per
// host, each until Config.KeepWarm passes or it reaches Transport.maxAge. A rollback right after a
// deploy is where it pays: 50 new logins cost the hosts seconds of CPU.
type warmPool struct {
	mu     sync.Mutex
	idle   map[string]*parked // by poolKey
	closed bool
}

// parked is a warm connection and the timer that closes it.
type parked struct {
	c      *conn
	expire *time.Timer
}

// seenKey is a host key a connection was verified with, with what the
// check was given, so that it can be checked again.
type seenKey struct {
	name, addr string // as given to hostKeyCallback
	hostname   string
	remote     net.Addr
	key        ssh.PublicKey
}

func poolKey(name, addr string) string { return name + "\x00" + addr }

// park keeps c warm for the next Open of its host. It reports false when
// c is to be closed instead: keeping warm is off, the transport is
// closed, c has ended or reached maxAge, or the host already has a warm
// connection.
func (t *Transport) park(c *conn) bool {
	if t.cfg.KeepWarm <= 0 || c.isDone() || c.ended() {
		return false
	}
	left := t.maxAge - time.Since(c.loggedIn)
	if left <= 0 {
		c.logger().Debug("ssh: not keeping an old connection warm", "host", c.name, "addr", c.addr, "age", time.Since(c.loggedIn).Round(time.Second))
		return false
	}
	key := poolKey(c.name, c.addr)
	t.warm.mu.Lock()
	defer t.warm.mu.Unlock()
	if t.warm.closed || t.warm.idle[key] != nil {
		return false
	}
	p := &parked{c: c}
	p.expire = time.AfterFunc(min(t.cfg.KeepWarm, left), func() {
		t.warm.mu.Lock()
		if t.warm.idle[key] == p {
			delete(t.warm.idle, key)
		}
		t.warm.mu.Unlock()
		_ = c.close() // nothing waits on it
		t.log.Debug("ssh: closed a connection kept warm", "host", c.name, "addr", c.addr, "idle", min(t.cfg.KeepWarm, left))
	})
	t.warm.idle[key] = p
	// Parked, it serves no run: what it logs until reused is the
	// transport's.
	c.setLog(t.log)
	return true
}

// reuse takes the host's warm connection if it has one that is still
// sound; a connection that is not is closed, and Open logs in afresh,
// which reports the host's real state (a changed key, no answer).
func (t *Transport) reuse(ctx context.Context, name, addr string) *conn {
	key := poolKey(name, addr)
	t.warm.mu.Lock()
	p := t.warm.idle[key]
	delete(t.warm.idle, key)
	t.warm.mu.Unlock()
	if p == nil || !p.expire.Stop() {
		return nil // none, or its expiry is closing it
	}
	if err := t.sound(ctx, p.c); err != nil {
		deploy.LogFrom(ctx, t.log).Debug("ssh: not reusing a warm connection", "host", name, "addr", addr, "reason", err)
		_ = p.c.close() // it is being replaced
		return nil
	}
	return p.c
}

// sound checks a warm connection before reuse: it has not ended nor
// reached maxAge (its expiry timer may run late), every key it was
// verified with is still accepted by known_hosts (an edit applies to the
// next deploy, as it does for new connections), and the host answers a
// keepalive within ConnectTimeout, so that a host that went away while
// the connection idled is noticed before a step is sent.
func (t *Transport) sound(ctx context.Context, c *conn) error {
	if c.isDone() || c.ended() {
		return errors.New("connection ended")
	}
	if age := time.Since(c.loggedIn); age >= t.maxAge {
		return fmt.Errorf("logged in %s ago, the most a connection is reused for is %s", age.Round(time.Second), t.maxAge)
	}
	for _, k := range c.keys {
		check, _, err := t.hostKeyCallback(k.name, k.addr)
		if err != nil {
			return err
		}
		if err := check(k.hostname, k.remote, k.key); err != nil {
			return fmt.Errorf("host key no longer accepted: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.ConnectTimeout)
	defer cancel()
	reply := make(chan error, 1)
	go func() {
		// Any answer, OpenSSH's failure for an unknown request included,
		// proves the host alive.
		_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	select {
	case err := <-reply:
		if err != nil {
			return fmt.Errorf("keepalive: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("keepalive: no answer: %w", ctx.Err())
	}
}

// Close closes every connection kept warm and keeps none from now on.
// Sessions still open close their connections when they are closed.
func (t *Transport) Close() error {
	t.warm.mu.Lock()
	t.warm.closed = true
	idle := t.warm.idle
	t.warm.idle = nil
	t.warm.mu.Unlock()
	for _, p := range idle {
		if p.expire.Stop() {
			_ = p.c.close() // the bot is stopping; nothing to report it to
		}
	}
	return nil
}
