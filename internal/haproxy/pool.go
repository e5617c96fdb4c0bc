package haproxy

import (
	"context"
	"errors"
	"fmt"
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
// pool: a host is drained before its switch and made ready after its
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

// Check reads the backend's servers once and returns an error unless
// HAProxy answers, says its stats socket is at level admin (HAProxy 2.0
// or later), and has a server for each of hosts:
// the engine calls it before a deploy or rollback changes anything, so
// that a socket that cannot be reached or would refuse `set server`, or a
// backend or server name the config got wrong, refuses the run rather
// than fail the first host's drain after its switch. A missing server is an errs.NotFound error naming every host
// without one. It returns the hosts whose server is in maint or drain,
// by host name, with that admin state (deploy.PoolMaint, PoolDrain).
func (p *Pool) Check(ctx context.Context, hosts []deploy.Host) (map[string]string, error) {
	all, err := p.Client.serversState(ctx, p.Backend)
	if err != nil {
		return nil, err
	}
	// `show servers state` answers at every level, `set server` only at
	// admin: a socket below it would fail the first host's drain, after
	// its switch.
	level, err := p.Client.level(ctx)
	if err != nil {
		return nil, err
	}
	// Only "admin" passes: any other answer leaves unknown whether `set
	// server` would work, which the first host's drain would find out.
	switch {
	case level == "admin":
	case level == "operator" || level == "user":
		return nil, errs.New(errs.Invalid, "haproxy: the stats socket answers at level %s, and taking a server out of rotation (set server) needs level admin: add \"level admin\" to its stats socket line", level)
	case strings.HasPrefix(level, "Unknown command"):
		return nil, errs.New(errs.Invalid, "haproxy: the stats socket does not know \"show cli level\" (HAProxy before 2.0?): Switchman needs HAProxy 2.0 or later, whose stats socket tells its level")
	default:
		first, _, _ := strings.Cut(level, "\n")
		if len(first) > 80 {
			first = first[:80] + "…"
		}
		return nil, errs.New(errs.Invalid, "haproxy: the stats socket answered \"show cli level\" with %q, not a level: is this HAProxy's stats socket, at level admin?", first)
	}
	var missing []string
	out := map[string]string{}
	for _, h := range hosts {
		server := p.server(h)
		if err := checkName("server", server); err != nil {
			return nil, err
		}
		st, ok := all[server]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%s (host %s)", server, h.Name))
		case st.Admin == StateMaint:
			out[h.Name] = deploy.PoolMaint
		case st.Admin == StateDrain:
			out[h.Name] = deploy.PoolDrain
		}
	}
	if len(missing) > 0 {
		return nil, errs.New(errs.NotFound, "haproxy: no server %s in backend %s", strings.Join(missing, ", "), p.Backend)
	}
	return out, nil
}

// Drain takes host's server out of the pool and waits for its sessions to
// end (see Client.Drain). A server still holding sessions after
// DrainTimeout is put in maint and the error wraps ErrDrainTimeout: the
// engine restarts the host all the same, as a server whose clients hold
// connections for hours (websockets, long polls) would otherwise never be
// deployed, and failing it would leave it in maint.
func (p *Pool) Drain(ctx context.Context, h deploy.Host) error {
	timeout := p.DrainTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return p.Client.Drain(ctx, p.Backend, p.server(h), timeout)
}

// Ready puts host's server back into the pool and returns once HAProxy's
// own health checks report it fully up, so that traffic only returns to a
// server that answers them.
//
// HAProxy marks a server that leaves maintenance up at once, with the
// lowest health that counts as up ("UP 1/2" in its stats), and checks it
// right away: a server that fails that check goes down. Ready therefore
// waits for the status "UP" of `show stat`, the highest health, which a
// server only reaches by passing a check after Ready (when the backend's
// fall is more than 1). A server without checks ("no check") counts as up.
// A server not up within ReadyTimeout is an errs.Unavailable error naming
// its last status and its last completed check (not the one running when
// Ready gave up); it stays in state ready, where HAProxy's checks keep it
// out of rotation while they fail.
//
// Setting it ready is tried again, within ReadyTimeout, while the socket
// cannot be reached (errs.Unavailable), as reading its state is; any other
// error returns at once.
func (p *Pool) Ready(ctx context.Context, h deploy.Host) error {
	server := p.server(h)
	if err := p.setReady(ctx, server); err != nil {
		return err
	}
	timeout := p.readyTimeout()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var last checkStatus
	var lastErr error
	for {
		st, err := p.Client.checkStatus(ctx, p.Backend, server)
		switch {
		case err == nil && (st.status == "UP" || st.status == "no check"):
			return nil
		case err == nil:
			last, lastErr = st.since(last), nil
		case errs.CodeOf(err) == errs.Unavailable:
			lastErr = err
		default:
			// Not found, invalid, or an answer no stats socket gives
			// (over 16 MiB, unparseable): asking again changes nothing,
			// and waiting out ReadyTimeout only holds the deploy.
			return err
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

// readyTimeout is ReadyTimeout, or its default.
func (p *Pool) readyTimeout() time.Duration {
	if p.ReadyTimeout > 0 {
		return p.ReadyTimeout
	}
	return DefaultReadyTimeout
}

// setReady sets server ready, trying again every readyPoll while the
// socket cannot be reached, until ReadyTimeout.
func (p *Pool) setReady(ctx context.Context, server string) error {
	timeout := p.readyTimeout()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		err := p.Client.Ready(ctx, p.Backend, server)
		if err == nil || errs.CodeOf(err) != errs.Unavailable || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-deadline.C:
			return errs.Wrap(errs.Unavailable, err, "haproxy: %s/%s could not be set ready within %s: %v", p.Backend, server, timeout, err)
		case <-tick.C:
		}
	}
}

func (p *Pool) notUp(server string, timeout time.Duration, last checkStatus, lastErr error) error {
	if lastErr != nil {
		return errs.Wrap(errs.Unavailable, lastErr, "haproxy: %s/%s was set ready but its state could not be read within %s: %v",
			p.Backend, server, timeout, lastErr)
	}
	check := strings.TrimSpace(last.check + " " + last.code)
	if last.detail != "" {
		check += ": " + last.detail
	}
	if check == "" {
		check = "none yet"
	}
	return errs.New(errs.Unavailable, "haproxy: %s/%s was set ready but is not up after %s (status %s, last check %s)",
		p.Backend, server, timeout, orUnknown(last.status), check)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// checkStatus is a server's health as `show stat` reports it.
type checkStatus struct {
	status  string // UP, UP 1/2 (up, not at full health), DOWN, DOWN 1/2, MAINT, DRAIN, no check
	check   string // the last completed check's status: L7OK, L7STS, L4CON, …; "" before the first
	code    string // its HTTP status, if any
	detail  string // its text (last_chk), if any
	running bool   // a new check was under way: code and detail were not the last check's
}

// since returns st, read after prev, with the code and text of the last
// completed check. While a check runs, HAProxy marks check_status with
// "* " and still shows the previous check's status there, but it has
// already reset check_code to 0 and emptied last_chk for the running one:
// "* L7STS", 0, "" for a server that has answered 503. Those are taken
// from prev when prev saw that same status, and left out otherwise.
func (st checkStatus) since(prev checkStatus) checkStatus {
	if !st.running {
		return st
	}
	st.code, st.detail = "", ""
	if prev.check == st.check {
		st.code, st.detail = prev.code, prev.detail
	}
	return st
}

// checkStatus reads server's status and last check from `show stat
// BACKEND 4 -1`.
func (c *Client) checkStatus(ctx context.Context, backend, server string) (checkStatus, error) {
	if err := checkNames(backend, server); err != nil {
		return checkStatus{}, err
	}
	out, err := c.command(ctx, "show stat "+backend+" 4 -1")
	if err != nil {
		return checkStatus{}, err
	}
	return parseCheckStatus(out, backend, server)
}

func parseCheckStatus(out, backend, server string) (checkStatus, error) {
	var cols map[string]int
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "# "):
			cols = columns(strings.Split(strings.TrimPrefix(line, "# "), ","))
			continue
		case cols == nil:
			return checkStatus{}, answerError("show stat "+backend, line)
		}
		f := strings.Split(line, ",")
		if field(f, cols, "pxname") != backend || field(f, cols, "svname") != server {
			continue
		}
		st := checkStatus{status: field(f, cols, "status")}
		st.check, st.running = strings.CutPrefix(field(f, cols, "check_status"), "* ")
		if st.check == "INI" { // initializing: no check has completed yet
			st.check = ""
		} else {
			st.code, st.detail = field(f, cols, "check_code"), field(f, cols, "last_chk")
		}
		return st, nil
	}
	return checkStatus{}, errs.New(errs.NotFound, "haproxy: no server %s in backend %s", server, backend)
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
