package haproxy

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// DefaultReadyTimeout bounds how long Pool.Ready waits for HAProxy to see
// a server up when Pool.ReadyTimeout is zero.
const DefaultReadyTimeout = 10 * time.Second

// readyPoll is how often Pool.Ready reads the server's state.
const readyPoll = 100 * time.Millisecond

// Pool is one HAProxy backend seen as the deploy engine's load balancer
// pool: a host is drained before its restart and made ready after its
// health check passed. It holds no connection and is safe for concurrent
// use.
type Pool struct {
	// Client reaches HAProxy's runtime API; required.
	Client *Client
	// Backend is the backend holding the env's hosts.
	Backend string
	// Server is the server name of a host in Backend, a template with
	// {host}, {address} and the host's vars; default "{host}".
	Server string
	// DrainTimeout bounds how long Drain waits for a server's sessions to
	// end; default 30 s.
	DrainTimeout time.Duration
	// ReadyTimeout bounds how long Ready waits for HAProxy to report the
	// server up; default DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

var _ deploy.Pool = (*Pool)(nil)

// Drain takes host's server out of the pool and waits for its sessions to
// end (see Client.Drain). A server still holding sessions after
// DrainTimeout is put in maint and the error wraps ErrDrainTimeout: the
// engine then does not restart it.
func (p *Pool) Drain(ctx context.Context, h deploy.Host) error {
	timeout := p.DrainTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return p.Client.Drain(ctx, p.Backend, p.server(h), timeout)
}

// Ready puts host's server back into the pool and returns once HAProxy's
// own health checks report it up, so that traffic only returns to a server
// that answers. A server not up within ReadyTimeout is an errs.Unavailable
// error naming its last state; it stays in state ready, where HAProxy's
// checks keep it out of rotation while they fail.
func (p *Pool) Ready(ctx context.Context, h deploy.Host) error {
	server := p.server(h)
	if err := p.Client.Ready(ctx, p.Backend, server); err != nil {
		return err
	}
	timeout := p.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var last State
	var lastErr error
	for {
		st, err := p.Client.ServerState(ctx, p.Backend, server)
		switch {
		case err == nil && st.Operational == OpUp:
			return nil
		case err == nil:
			last, lastErr = st, nil
		case errs.CodeOf(err) == errs.NotFound || errs.CodeOf(err) == errs.Invalid:
			return err // asking again changes nothing
		default:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), p.notUp(server, timeout, last, lastErr))
		case <-deadline.C:
			return p.notUp(server, timeout, last, lastErr)
		case <-tick.C:
		}
	}
}

func (p *Pool) notUp(server string, timeout time.Duration, last State, lastErr error) error {
	if lastErr != nil {
		return errs.Wrap(errs.Unavailable, lastErr, "haproxy: %s/%s was set ready but its state could not be read within %s: %v",
			p.Backend, server, timeout, lastErr)
	}
	op := last.Operational
	if op == "" {
		op = "unknown"
	}
	return errs.New(errs.Unavailable, "haproxy: %s/%s was set ready but is not up after %s (operational %s, admin %s): its health check fails",
		p.Backend, server, timeout, op, last.Admin)
}

// server expands the Server template for h.
func (p *Pool) server(h deploy.Host) string {
	tmpl := p.Server
	if tmpl == "" {
		tmpl = "{host}"
	}
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	// The host's own name and address come first, so they win over vars
	// of the same name (a Replacer tries its pairs in order).
	pairs := make([]string, 0, 2*len(h.Vars)+4)
	pairs = append(pairs, "{host}", h.Name, "{address}", h.Address)
	for k, v := range h.Vars {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}
