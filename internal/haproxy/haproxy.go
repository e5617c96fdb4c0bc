// Package haproxy drives HAProxy's runtime API (the stats socket at
// "level admin") to take a server out of a backend's pool before it is
// restarted and to put it back afterwards, so that a rolling restart
// behind HAProxy fails no request.
//
// The runtime API is line based: a client connects, sends one command and
// a newline, and HAProxy answers and closes the connection (a connection
// that did not ask for the interactive "prompt" mode). The Client therefore
// opens one connection per command. Backend and server names are checked
// before they are put into a command, so a name can never carry a second
// command (HAProxy splits commands on ';' and newlines).
package haproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Dialer opens a connection to HAProxy's stats socket. It must honour ctx
// for the dial itself; the Client sets deadlines on the connection it
// returns. Through SSH, a caller holding an *ssh.Client can return
// client.DialContext(ctx, "unix", "/run/haproxy/admin.sock").
type Dialer func(ctx context.Context) (net.Conn, error)

// UnixDialer reaches a stats socket bound to a unix socket at path.
func UnixDialer(path string) Dialer {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}

// TCPDialer reaches a stats socket bound to a TCP address (host:port),
// such as "stats socket ipv4@127.0.0.1:9999 level admin".
func TCPDialer(addr string) Dialer {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// Admin states of a server, as set by SetState and reported in
// State.Admin.
const (
	StateReady = "ready" // takes new traffic (if its checks pass)
	StateDrain = "drain" // keeps its sessions but receives no new ones
	StateMaint = "maint" // out of the pool; health checks stopped
)

// Operational states of a server, as reported in State.Operational.
const (
	OpDown     = "down"     // checks failing, or the server is in maintenance
	OpStarting = "starting" // coming up under slowstart
	OpUp       = "up"       // running: its checks pass
	OpStopping = "stopping" // going down under slowstart
)

// maxAnswer bounds one answer read into memory. The longest the client
// asks for, the CSV of `show stat` for one backend, takes about 400 bytes
// a server: some 4 MiB for ten thousand. A socket reached through a host
// (pool.haproxy.via), or anything listening at its address, could
// otherwise send without end until the command's timeout, at the speed of
// the network, into the bot's memory, for every host of every deploy.
const maxAnswer = 16 << 20

// DefaultTimeout bounds one command when Client.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// drainPoll is how often Drain reads a draining server's sessions.
const drainPoll = 100 * time.Millisecond

// MaintRetry is how long past its timeout Drain goes on sending `state
// maint` while the socket cannot be reached: a server whose drain ran out
// of time is restarted only once it is in maint, and a socket that failed
// at that moment (haproxy reloading) answers again a moment later.
const MaintRetry = 5 * time.Second

// ErrDrainTimeout is in the chain of the error Drain returns when sessions
// remained open after its timeout (it is deploy.ErrDrainTimeout).
var ErrDrainTimeout = deploy.ErrDrainTimeout

// State is what HAProxy reports about one server.
type State struct {
	// Operational is OpUp, OpDown, OpStarting or OpStopping: the
	// srv_op_state column of `show servers state` (0 stopped, 1 starting,
	// 2 running, 3 stopping).
	Operational string
	// Admin is StateReady, StateDrain or StateMaint: the srv_admin_state
	// column of `show servers state`, a bit field in which any
	// maintenance bit (forced, inherited, from the config, from DNS
	// resolution or a hostname) means maint, and otherwise any drain bit
	// (forced or inherited) means drain.
	Admin string
	// Sessions is the server's current sessions: the scur column of
	// `show stat` for the server's row. Requests in flight through the
	// server count; idle keep-alive connections do not.
	Sessions int
	// Queued is the number of requests waiting in the server's own queue
	// (the qcur column of `show stat`); they will still be sent to it.
	Queued int
}

// Client sends commands to HAProxy's runtime API. The zero Timeout means
// DefaultTimeout. A Client holds no connection and is safe for concurrent
// use.
type Client struct {
	// Dial reaches the stats socket; required.
	Dial Dialer
	// Timeout bounds each command: dialling, writing it and reading the
	// whole answer.
	Timeout time.Duration
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// checkName refuses a backend or server name that is not made only of
// [A-Za-z0-9._-]: anything else (spaces, ';', newlines) could end the
// command and start another.
func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return errs.New(errs.Invalid, "invalid haproxy %s name %q: use only letters, digits, '.', '_' and '-'", kind, name)
	}
	return nil
}

func checkNames(backend, server string) error {
	if err := checkName("backend", backend); err != nil {
		return err
	}
	return checkName("server", server)
}

// ServerState returns the state of server in backend. It sends two
// commands: `show servers state BACKEND` for the operational and admin
// states, then `show stat BACKEND 4 -1` for the current sessions. An
// unknown backend or server is an errs.NotFound error.
func (c *Client) ServerState(ctx context.Context, backend, server string) (State, error) {
	if err := checkNames(backend, server); err != nil {
		return State{}, err
	}
	all, err := c.serversState(ctx, backend)
	if err != nil {
		return State{}, err
	}
	st, ok := all[server]
	if !ok {
		return State{}, errs.New(errs.NotFound, "haproxy: no server %s in backend %s", server, backend)
	}
	cur, err := c.stat(ctx, backend, server)
	if err != nil {
		return State{}, err
	}
	st.Sessions, st.Queued = cur.sessions, cur.queued
	return st, nil
}

// SetState sets server's admin state to StateReady, StateDrain or
// StateMaint with `set server BACKEND/SERVER state STATE`. HAProxy answers
// this command with an empty line on success; any other answer is its
// error message, returned as an error (errs.NotFound for an unknown
// backend or server), and no answer at all is an errs.Unavailable error.
func (c *Client) SetState(ctx context.Context, backend, server, state string) error {
	if err := checkNames(backend, server); err != nil {
		return err
	}
	switch state {
	case StateReady, StateDrain, StateMaint:
	default:
		return errs.New(errs.Invalid, "invalid haproxy server state %q: want ready, drain or maint", state)
	}
	out, err := c.command(ctx, "set server "+backend+"/"+server+" state "+state)
	if err != nil {
		return err
	}
	if msg := strings.TrimSpace(out); msg != "" {
		return answerError(fmt.Sprintf("set %s/%s state %s", backend, server, state), msg)
	}
	return nil
}

// Ready puts server back into backend's pool (state ready). With health
// checks HAProxy marks it up at once and checks it right away; callers
// should make sure the server answers before calling Ready.
func (c *Client) Ready(ctx context.Context, backend, server string) error {
	return c.SetState(ctx, backend, server, StateReady)
}

// Drain takes server out of backend's pool without cutting a request: it
// sets state drain, so the server gets no new sessions, polls the server's
// current and queued sessions (`show stat`) until both are zero or timeout
// passes, then sets state maint, which also stops its health checks. A
// command that cannot reach the socket (errs.Unavailable: a dropped
// connection, haproxy reloading) is sent again every drainPoll until
// timeout: a poll as the server is out of rotation already, setting drain
// or maint as doing it again changes nothing more.
//
// If sessions remain after timeout, or none of the polls since the last
// that succeeded could read them, the server is still put in maint (its
// open sessions go on) and the error wraps ErrDrainTimeout; the caller
// decides whether to restart it anyway. Setting maint is sent again while
// the socket cannot be reached for up to MaintRetry past timeout. A server
// that could not be set to drain within timeout, or to maint within
// MaintRetry past it, is an errs.Unavailable error without
// ErrDrainTimeout: it may still take traffic (in drain, persistent
// sessions still reach it), and must not be restarted.
// If ctx ends first, Drain returns ctx's error and leaves the server in
// drain.
func (c *Client) Drain(ctx context.Context, backend, server string, timeout time.Duration) error {
	expired := make(chan struct{})
	deadline := time.AfterFunc(timeout, func() { close(expired) })
	defer deadline.Stop()
	maintOver := make(chan struct{})
	maintDeadline := time.AfterFunc(timeout+MaintRetry, func() { close(maintOver) })
	defer maintDeadline.Stop()
	maint := func() error {
		err := c.setRetrying(ctx, backend, server, StateMaint, maintOver)
		if err != nil && errs.CodeOf(err) == errs.Unavailable && ctx.Err() == nil {
			return errs.Wrap(errs.Unavailable, err, "haproxy: %s/%s could not be set to maint after its drain timeout of %s (tried for %s more): %v; it was set to drain only, where it may still take traffic",
				backend, server, timeout, MaintRetry, err)
		}
		return err
	}
	if err := c.setRetrying(ctx, backend, server, StateDrain, expired); err != nil {
		if errs.CodeOf(err) == errs.Unavailable && ctx.Err() == nil {
			return errs.Wrap(errs.Unavailable, err, "haproxy: %s/%s could not be set to drain within %s: %v", backend, server, timeout, err)
		}
		return err
	}
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	var open stat
	var readErr error // the last poll's, when it failed
	for {
		cur, err := c.stat(ctx, backend, server)
		switch {
		case err == nil:
			open, readErr = cur, nil
			if open.sessions == 0 && open.queued == 0 {
				return maint()
			}
		case errs.CodeOf(err) == errs.Unavailable && ctx.Err() == nil:
			readErr = err // a dropped connection: read again
		default:
			return fmt.Errorf("drain %s/%s: %w", backend, server, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain %s/%s: %w", backend, server, ctx.Err())
		case <-expired:
			if err := maint(); err != nil {
				return err
			}
			if readErr != nil {
				return errs.Wrap(errs.Unavailable, ErrDrainTimeout,
					"the sessions of %s/%s could not be read until %s had passed (%v); it is in maint now",
					backend, server, timeout, readErr)
			}
			return errs.Wrap(errs.Unavailable, ErrDrainTimeout,
				"%s/%s still had %d session(s) and %d queued request(s) after %s; it is in maint now",
				backend, server, open.sessions, open.queued, timeout)
		case <-tick.C:
		}
	}
}

// setRetrying sets server's state, sending the command again every
// drainPoll while the socket cannot be reached (errs.Unavailable) until
// expired is closed; it returns the last error then.
func (c *Client) setRetrying(ctx context.Context, backend, server, state string, expired <-chan struct{}) error {
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		err := c.SetState(ctx, backend, server, state)
		if err == nil || errs.CodeOf(err) != errs.Unavailable || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-expired:
			return err
		case <-tick.C:
		}
	}
}

// command sends one command on a new connection and returns the whole
// answer. The connection is closed when ctx ends, so a hung socket never
// outlives the caller.
func (c *Client) command(ctx context.Context, cmd string) (string, error) {
	if c.Dial == nil {
		return "", errs.New(errs.Internal, "haproxy: client has no Dial")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := c.Dial(ctx)
	if err != nil {
		return "", ioError(parent, "cannot reach the haproxy stats socket", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		// An SSH channel (pool.haproxy.via) has no deadlines; closing the
		// connection when ctx ends bounds the command all the same.
		_ = conn.SetDeadline(dl)
	}
	what := fmt.Sprintf("haproxy did not answer %q", firstWords(cmd))
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", ioError(parent, what, err)
	}
	b, err := io.ReadAll(io.LimitReader(conn, maxAnswer+1))
	if err != nil {
		return "", ioError(parent, what, err)
	}
	if len(b) > maxAnswer {
		// Not Unavailable, which setting a server ready waits out and
		// asks again: a socket that talks without end does so again.
		return "", errs.New(errs.Internal, "haproxy answered %q with more than %d MiB, which no answer of its takes: is this its stats socket?", firstWords(cmd), maxAnswer>>20)
	}
	if len(b) == 0 {
		// HAProxy ends every answer with an empty line, a command that
		// succeeds silently included: a connection closed without a byte
		// never ran the command (a process stopping under a reload, or
		// no stats socket at that address), and reading it as an empty
		// answer took it for the success of `set server`.
		return "", errs.New(errs.Unavailable, "haproxy closed the connection without answering %q", firstWords(cmd))
	}
	// The answer is quoted in replies (HAProxy's errors, a check's
	// text, which an app's reason phrase fills), from a socket that may
	// be on another host: it loses the marks of the bot's suggested
	// commands (see suggest), which no answer of HAProxy's holds.
	return suggest.Strip(string(b)), nil
}

// ioError wraps err, putting the caller's ctx error in the chain when ctx
// ended or its deadline passed (the connection's deadline, the same
// instant, may fire first), so callers can tell their own cancellation
// from a dead socket.
func ioError(ctx context.Context, msg string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		err = fmt.Errorf("%w (%v)", cerr, err)
	} else if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return errs.Wrap(errs.Unavailable, err, "%s", msg)
}

// firstWords names a command in errors without its arguments.
func firstWords(cmd string) string {
	f := strings.Fields(cmd)
	if len(f) > 2 {
		f = f[:2]
	}
	return strings.Join(f, " ")
}

// answerError turns an error message from HAProxy into an error.
func answerError(what, msg string) error {
	code := errs.Invalid
	for _, s := range []string{"No such server", "No such backend", "No such proxy", "Can't find backend"} {
		if strings.Contains(msg, s) {
			code = errs.NotFound
		}
	}
	return errs.New(code, "haproxy: %s: %s", what, msg)
}

// level returns the level the stats socket grants this connection (`show
// cli level`: admin, operator or user). An HAProxy older than 2.0, which
// lacks the command, answers with its error, returned as it is.
func (c *Client) level(ctx context.Context) (string, error) {
	out, err := c.command(ctx, "show cli level")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// serversState returns the operational and admin states of every server
// of backend, by name, from one `show servers state BACKEND`.
func (c *Client) serversState(ctx context.Context, backend string) (map[string]State, error) {
	if err := checkName("backend", backend); err != nil {
		return nil, err
	}
	out, err := c.command(ctx, "show servers state "+backend)
	if err != nil {
		return nil, err
	}
	return parseServersState(out, backend)
}

// parseServersState reads the answer to `show servers state BACKEND`: a
// format version line ("1"), a "# be_id be_name …" header naming the
// columns, then one space-separated line per server. Columns are found by
// their header name, so added columns do not break it.
func parseServersState(out, backend string) (map[string]State, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var cols map[string]int
	first := true
	all := map[string]State{}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if first {
			first = false
			if line != "1" {
				return nil, answerError("show servers state "+backend, line)
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			cols = columns(strings.Fields(strings.TrimPrefix(line, "#")))
			continue
		}
		if cols == nil {
			return nil, errs.New(errs.Internal, "haproxy: show servers state %s: no header before %q", backend, line)
		}
		f := strings.Fields(line)
		if field(f, cols, "be_name") != backend {
			continue
		}
		op, err := strconv.Atoi(field(f, cols, "srv_op_state"))
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "haproxy: bad srv_op_state in %q", line)
		}
		admin, err := strconv.Atoi(field(f, cols, "srv_admin_state"))
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "haproxy: bad srv_admin_state in %q", line)
		}
		all[field(f, cols, "srv_name")] = State{Operational: opState(op), Admin: adminState(admin)}
	}
	if err := sc.Err(); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "haproxy: read show servers state %s", backend)
	}
	if first {
		return nil, errs.New(errs.Unavailable, "haproxy: empty answer to show servers state %s", backend)
	}
	return all, nil
}

// opState names srv_op_state (enum srv_state in HAProxy's server-t.h).
func opState(n int) string {
	switch n {
	case 0:
		return OpDown
	case 1:
		return OpStarting
	case 2:
		return OpUp
	case 3:
		return OpStopping
	}
	return "unknown(" + strconv.Itoa(n) + ")"
}

// Bits of srv_admin_state (enum srv_admin in HAProxy's server-t.h).
const (
	admForcedMaint   = 0x01
	admInheritMaint  = 0x02
	admConfigMaint   = 0x04
	admForcedDrain   = 0x08
	admInheritDrain  = 0x10
	admResolvMaint   = 0x20
	admHostnameMaint = 0x40
)

func adminState(n int) string {
	switch {
	case n&(admForcedMaint|admInheritMaint|admConfigMaint|admResolvMaint|admHostnameMaint) != 0:
		return StateMaint
	case n&(admForcedDrain|admInheritDrain) != 0:
		return StateDrain
	}
	return StateReady
}

type stat struct{ sessions, queued int }

// stat reads server's current sessions (scur) and queued requests (qcur)
// from `show stat BACKEND 4 -1`, the CSV of backend's servers (type 4)
// whose first line names the columns.
func (c *Client) stat(ctx context.Context, backend, server string) (stat, error) {
	out, err := c.command(ctx, "show stat "+backend+" 4 -1")
	if err != nil {
		return stat{}, err
	}
	return parseStat(out, backend, server)
}

func parseStat(out, backend, server string) (stat, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var cols map[string]int
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "# ") {
			cols = columns(strings.Split(strings.TrimPrefix(line, "# "), ","))
			continue
		}
		if cols == nil {
			return stat{}, answerError("show stat "+backend, line)
		}
		f := strings.Split(line, ",")
		if field(f, cols, "pxname") != backend || field(f, cols, "svname") != server {
			continue
		}
		scur, err := strconv.Atoi(field(f, cols, "scur"))
		if err != nil {
			return stat{}, errs.Wrap(errs.Internal, err, "haproxy: bad scur for %s/%s", backend, server)
		}
		qcur, err := strconv.Atoi(field(f, cols, "qcur"))
		if err != nil {
			return stat{}, errs.Wrap(errs.Internal, err, "haproxy: bad qcur for %s/%s", backend, server)
		}
		return stat{sessions: scur, queued: qcur}, nil
	}
	if err := sc.Err(); err != nil {
		return stat{}, errs.Wrap(errs.Internal, err, "haproxy: read show stat %s", backend)
	}
	return stat{}, errs.New(errs.NotFound, "haproxy: no server %s in backend %s", server, backend)
}

func columns(names []string) map[string]int {
	m := make(map[string]int, len(names))
	for i, n := range names {
		m[strings.TrimSpace(n)] = i
	}
	return m
}

// field returns the column name of a row, or "" if the header lacks it or
// the row is short.
func field(row []string, cols map[string]int, name string) string {
	i, ok := cols[name]
	if !ok || i >= len(row) {
		return ""
	}
	return row[i]
}
