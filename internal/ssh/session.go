package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/scriptio"
	"github.com/switchman-bot/switchman/internal/shell"
	"github.com/switchman-bot/switchman/internal/suggest"
)

const (
	// maxMissedKeepAlives unanswered keepalives in a row declare a host
	// dead.
	maxMissedKeepAlives = 3
	// stderrTail is how much of a script's standard error is kept.
	stderrTail = 4 << 10
	// killGrace bounds each wait of Run's kill sequence: for the script's
	// process group id, for the kill, and for the script to report its
	// end. The session is closed after it either way. The kill is a
	// session of its own that walks the host's processes: on a busy
	// two-core VM (a full test run) it once took more than a second, and
	// a shell that was sound was dropped.
	killGrace = 3 * time.Second
	// maxPreamble is how much standard error the login shell's startup
	// files may write before the wrapper's process group line.
	maxPreamble = 16 << 10
)

// pgidMarker starts the line in which the wrapper reports the script's
// process group id on standard error.
const pgidMarker = "switchman-pgid="

// wrapper is what /bin/sh runs before the script. sshd puts every session
// in a new session and process group led by the login shell; the command
// execs /bin/sh, which keeps that pid, reports it, and runs the script.
// Killing the group on timeout then needs no signal support in sshd
// (OpenSSH refuses signal requests for root logins, and before 7.9).
//
// The script runs in that same shell, by eval after a shift (so it sees no
// arguments, as under sh -c), rather than in a second exec'd /bin/sh: every
// step of a deploy is a session, and the exec cost a host about 0.9 ms of
// CPU each, a sixth of a session.
const wrapper = `echo "` + pgidMarker + `$$" >&2 && eval "shift
$1"`

// remoteCommand is the SSH exec command that runs script with /bin/sh,
// whatever the user's login shell, as long as it understands exec and
// single quotes. The script is one argument of an exec, so Linux limits it
// to 128 KiB, as for the local transport.
func remoteCommand(script string) string {
	return "exec /bin/sh -c " + shell.Quote(wrapper) + " switchman " + shell.Quote(script)
}

// runCommand is remoteCommand for a script in a session of its own, with
// run, if any, in the environment of the session's shell itself, as the
// local transport's: what a later run stops by it is that shell and what
// it started (see deploy.Command.Run). The login shell exports it before
// it execs /bin/sh, with a builtin: an `exec env …` would cost every host
// one more program loaded per delivery. POSIX shells and fish take it;
// csh and tcsh take none of remoteCommand's quoting either.
func runCommand(script, run string) string {
	if run == "" {
		return remoteCommand(script)
	}
	return "export SWITCHMAN_RUN=" + run + "; " + remoteCommand(script)
}

// conn is one host's authenticated connection (and its bastion's), with
// the keepalives that declare it dead. It outlives a session when the
// transport keeps it warm. The keepalive goroutines only touch done, stop
// and the fields guarded by mu.
type conn struct {
	t      *Transport
	name   string
	addr   string
	client *ssh.Client
	jump   *ssh.Client
	// keys are the host keys the connection was verified with: checked
	// against known_hosts again before a warm connection is reused.
	keys []seenKey
	// loggedIn is when the connection logged in: one older than the
	// transport's maxAge is neither kept warm nor reused.
	loggedIn time.Time
	// done is closed when the connection has ended.
	done     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	// jumpEnded is closed when the bastion's connection has ended;
	// dropJump is set when it was closed because the host's had.
	jumpEnded chan struct{}
	dropJump  atomic.Bool

	// rtt is the connection's shortest round trip, 0 if unknown.
	rtt time.Duration
	// sh runs the steps that have no standard input; nil until the first
	// one (see shell.go). Only the session using the connection touches it.
	sh *stepShell

	mu     sync.Mutex
	reason string // why the connection ended, if we ended it
	// log is the logger of the run the connection serves (see
	// deploy.WithLog), the transport's once it is parked.
	log *slog.Logger
}

// logger returns the logger of the run the connection serves.
func (c *conn) logger() *slog.Logger {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log
}

// setLog hands the connection to the run that log is of.
func (c *conn) setLog(log *slog.Logger) {
	c.mu.Lock()
	c.log = log
	c.mu.Unlock()
}

// session is what Open hands out: a connection for one user at a time, as
// deploy.Session says. Run is called by one goroutine at a time; Close may
// be called at once from several (a tunnel's user closes it from a
// context.AfterFunc and a defer), and only the first closes or parks the
// connection.
type session struct {
	*conn
	closeOnce sync.Once
	closed    atomic.Bool
	// spoiled is set when a Run ended other than by its script exiting:
	// the connection may still carry a killed script's channel, so it is
	// closed rather than kept warm.
	spoiled bool
}

var _ deploy.Session = (*session)(nil)

// RoundTrip returns the shortest round trip the kernel saw on a direct
// connection; 0 through a bastion, whose hop to the host it cannot see.
// Push delivery sizes how far it streams ahead of a host by it.
func (c *conn) RoundTrip() time.Duration { return c.rtt }

func newConn(t *Transport, name, addr string, client, jump *ssh.Client, log *slog.Logger) *conn {
	c := &conn{t: t, name: name, addr: addr, client: client, jump: jump, loggedIn: time.Now(), log: log,
		done: make(chan struct{}), stop: make(chan struct{}), jumpEnded: make(chan struct{})}
	go func() {
		// Returns with the connection; its error says nothing more.
		_ = client.Wait()
		close(c.done)
		if jump != nil {
			c.endJump()
		}
	}()
	go c.keepAlive(client, "host")
	if jump != nil {
		go c.keepAlive(jump, "bastion")
		go func() {
			// A tunnel does not outlive its bastion.
			_ = jump.Wait()
			if !c.dropJump.Load() {
				c.fail("connection to the bastion lost")
			}
			close(c.jumpEnded)
			client.Close()
		}()
	}
	return c
}

// endJump closes the bastion's connection once the host's has ended: it
// carries that host's alone, and kept warm nothing else would close it,
// nor stop its keepalives, until keep_warm passes. A bastion that went
// away ends the host's connection a moment before its own reports the
// end, a moment that a busy machine stretches past any fixed wait. So
// the bastion is asked (a keepalive): one that answers is alive, and its
// connection is closed; one whose connection fails the request is
// ending, and says so itself (see newConn); one that does not answer
// within ConnectTimeout is taken for lost. lost waits for this to settle,
// so that the reason it gives is the bastion's loss when it was that.
func (c *conn) endJump() {
	reply := make(chan error, 1)
	go func() {
		_, _, err := c.jump.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	t := time.NewTimer(c.t.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-c.jumpEnded:
		return
	case err := <-reply:
		if err != nil {
			return // ending: its Wait returns, and jumpEnded closes
		}
		c.dropJump.Store(true)
	case <-t.C:
		c.fail("connection to the bastion lost: it did not answer")
	}
	c.jump.Close()
}

// keepAlive sends a keepalive request on c every KeepAlive and closes c
// once maxMissedKeepAlives in a row went unanswered. A request counts as
// missed when the next tick finds it still pending, so a host that hangs
// is declared dead about (maxMissedKeepAlives+1)*KeepAlive after its last
// answer.
func (c *conn) keepAlive(client *ssh.Client, what string) {
	interval := c.t.cfg.KeepAlive
	tick := time.NewTicker(interval)
	defer tick.Stop()
	replies := make(chan error, 1)
	pending, missed := false, 0
	for {
		select {
		case <-c.stop:
			return
		case err := <-replies:
			if err != nil {
				return // the connection is gone
			}
			pending, missed = false, 0
		case <-tick.C:
			if !pending {
				pending = true
				go func() {
					// OpenSSH answers this unknown request with a
					// failure: any answer proves the host alive.
					_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
					replies <- err
				}()
				continue
			}
			if missed++; missed < maxMissedKeepAlives {
				continue
			}
			c.fail(fmt.Sprintf("%s stopped answering (%d keepalives %s apart unanswered)", what, missed, interval))
			c.logger().Warn("ssh: host stopped answering, closing its connection",
				"host", c.name, "addr", c.addr, "peer", what, "missed", missed, "interval", interval)
			client.Close()
			return
		}
	}
}

// fail records why the connection is being ended; the first reason wins.
func (c *conn) fail(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason == "" {
		c.reason = reason
	}
}

// ended reports whether the connection was ended on purpose (keepalives
// unanswered, the bastion gone), which may not have shown in done yet.
func (c *conn) ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason != ""
}

// lost is the error for a connection that ended under a Run. Through a
// bastion, whose loss ends the connection before it is told, it waits
// for endJump to settle which of the two ended first.
func (c *conn) lost() error {
	if c.jump != nil && !c.ended() {
		t := time.NewTimer(c.t.cfg.ConnectTimeout + lostGrace)
		select {
		case <-c.jumpEnded:
		case <-t.C:
		}
		t.Stop()
	}
	c.mu.Lock()
	reason := c.reason
	c.mu.Unlock()
	if reason == "" {
		reason = "connection lost"
	}
	return fmt.Errorf("ssh: %s (%s): %w: %s", c.name, c.addr, deploy.ErrUnreachable, reason)
}

// lostGrace is how long an operation that failed waits for the connection
// to be reported ended: x/crypto fails pending calls with assorted errors
// slightly before the connection's Wait returns.
const lostGrace = 200 * time.Millisecond

// gone reports whether err, from an operation on the connection, means the
// connection has ended.
func (c *conn) gone(err error) bool {
	if isNetErr(err) {
		return true
	}
	t := time.NewTimer(lostGrace)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}

func (c *conn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Run runs cmd.Script with /bin/sh on the host, over the open connection,
// with cmd.Stdin as its standard input, and returns its standard output
// (also with an error, as far as it got): past 4 MiB, its last 4 MiB after
// a line saying how much was dropped (see scriptio.Output); cmd.Stdout
// gets all of it, as the host wrote it. What Run returns, output and
// standard error, is without the marks of the bot's suggested commands
// (see unmarked).
//
// A script that exits non-zero returns a *deploy.ExitError carrying the
// last 4 KiB of its standard error. When ctx is done or cmd.Timeout
// passes, the script's process group is killed (with kill -9 in another
// session on the same connection), its session closed, and the error
// wraps context.DeadlineExceeded ("step timed out") or context.Canceled.
// A connection that drops or stops answering keepalives returns an error
// wrapping deploy.ErrUnreachable, and so does a script ended by ctx or
// its timeout that the host was not seen to end (see unkilled).
//
// If reading cmd.Stdin fails, the script is killed before its input is
// closed, so that it never mistakes a broken stream for a complete one,
// and the read error is returned. A Read of cmd.Stdin blocked when Run
// returns may still be in progress; the caller must unblock it before
// reusing the reader.
//
// A script without standard input runs in the connection's shell (see
// shell.go); one with standard input in a session of its own. In a
// session, as with the ssh command, a script that leaves a background
// process holding its output open does not end until that process closes
// it (or the step times out); in the shell it ends at once, and what the
// process prints later is dropped or taken for a later script's output.
// Such a process should redirect its output. In the shell, $$ is the
// shell's: a script that kills $$ ends the shell, and fails with an error
// saying so, wrapping the *deploy.ExitError of the shell's status and the
// script's standard error; the next script gets a new shell.
func (s *session) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	out, err := s.run(ctx, cmd)
	var exit *deploy.ExitError
	switch {
	case errors.As(err, &exit):
		exit.Stderr = suggest.Strip(exit.Stderr)
	case err != nil:
		s.spoiled = true
	}
	return unmarked(out), err
}

// unmarked is what a host wrote without the marks of the bot's suggested
// commands (see suggest): a host's output and errors are quoted in
// progress, records and replies, where a command it printed between the
// marks would pass for the bot's suggestion.
func unmarked(out []byte) []byte { return suggest.StripBytes(out) }

func (s *session) run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("ssh: %s: session closed", s.name)
	}
	if !shell.Valid(cmd.Script) {
		return nil, fmt.Errorf("ssh: %s: script holds a NUL byte", s.name)
	}
	if cmd.Run != "" && !deploy.ValidRunToken(cmd.Run) {
		return nil, fmt.Errorf("ssh: %s: invalid run token %q", s.name, cmd.Run)
	}
	limit := stepLimit(ctx, cmd.Timeout)
	var cancel context.CancelFunc
	if cmd.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, cmd.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	if ctx.Err() != nil {
		return nil, s.stopped(ctx, limit)
	}
	if s.isDone() {
		return nil, s.lost()
	}
	if cmd.Stdin == nil {
		return s.runInShell(ctx, cmd, limit)
	}

	sess, err := s.newSession()
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	stdout := &lockedBuffer{}
	stderr := newStderrWriter()
	sess.Stdout, sess.Stderr = stdout, stderr
	if cmd.Stdout != nil {
		sess.Stdout = io.MultiWriter(stdout, cmd.Stdout)
	}
	var stdin io.WriteCloser
	if cmd.Stdin != nil {
		// Fed by our own goroutine rather than by the session's, so that
		// a reader that blocks after the script exited cannot hold up
		// Wait, and a failed read never becomes an end of input.
		if stdin, err = sess.StdinPipe(); err != nil {
			return nil, fmt.Errorf("ssh: %s: stdin: %w", s.name, err)
		}
	}
	if err := sess.Start(runCommand(cmd.Script, cmd.Run)); err != nil {
		if s.gone(err) {
			return nil, s.lost()
		}
		return nil, fmt.Errorf("ssh: %s: %w", s.name, errExecRefused)
	}

	stdinErr := make(chan error, 1)
	if stdin != nil {
		go func() {
			if err := scriptio.Feed(stdin, cmd.Stdin); err != nil {
				stdinErr <- err
				return
			}
			stdin.Close()
		}()
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()

	select {
	case err = <-waited:
	case <-ctx.Done():
		killed := s.kill(sess, stderr, waited)
		if s.isDone() {
			return stdout.Bytes(), s.lost()
		}
		if !killed {
			return stdout.Bytes(), s.unkilled(ctx, limit)
		}
		return stdout.Bytes(), s.stopped(ctx, limit)
	case rerr := <-stdinErr:
		s.kill(sess, stderr, waited)
		return stdout.Bytes(), fmt.Errorf("ssh: %s: read stdin: %w", s.name, rerr)
	}
	out := stdout.Bytes()
	select {
	case rerr := <-stdinErr:
		return out, fmt.Errorf("ssh: %s: read stdin: %w", s.name, rerr)
	default:
	}
	if err == nil {
		return out, nil
	}
	var exit *ssh.ExitError
	if errors.As(err, &exit) {
		return out, &deploy.ExitError{Code: exit.ExitStatus(), Stderr: stderr.String()}
	}
	if ctx.Err() != nil {
		return out, s.stopped(ctx, limit)
	}
	var missing *ssh.ExitMissingError
	if errors.As(err, &missing) || s.gone(err) {
		return out, s.lost()
	}
	return out, fmt.Errorf("ssh: %s: run script: %w", s.name, err)
}

// errExecRefused is the host declining the exec request that runs a
// script, the only way a Start on a connection that is still up fails:
// said instead of x/crypto's own error, which quotes the whole command,
// the script with whatever secrets it holds (a migration's database
// password) or the step shell's loop, and would reach the reply.
var errExecRefused = errors.New("the host refused to run the script (its sshd declined the exec request)")

// newSession opens an SSH session on the connection.
func (c *conn) newSession() (*ssh.Session, error) {
	sess, err := c.client.NewSession()
	if err != nil {
		// The host refusing a session is an OpenChannelError (MaxSessions
		// reached, say); any other failure is the connection's.
		var refused *ssh.OpenChannelError
		if !errors.As(err, &refused) {
			return nil, c.lost()
		}
		return nil, fmt.Errorf("ssh: %s: new session: %w", c.name, err)
	}
	return sess, nil
}

// kill ends a running script: it waits for the script's process group id,
// kills the group from another session, waits for the script to report
// its end, and closes its session. Each wait is bounded by killGrace, so a
// host that stopped answering holds Run up for a few seconds at most. It
// reports whether the script was seen to end.
func (c *conn) kill(sess *ssh.Session, stderr *stderrWriter, waited <-chan error) bool {
	defer sess.Close()
	ended := make(chan struct{})
	go func() {
		<-waited
		close(ended)
	}()
	// wait reports whether ch closed within killGrace, before the script
	// ended and before the connection did.
	wait := func(ch <-chan struct{}) bool {
		t := time.NewTimer(killGrace)
		defer t.Stop()
		select {
		case <-ch:
			return true
		case <-ended:
		case <-t.C:
		case <-c.done:
		}
		return false
	}
	if wait(stderr.ready) {
		if pgid := stderr.PGID(); pgid > 0 {
			killed := make(chan struct{})
			go func() {
				defer close(killed)
				c.killGroup(pgid)
			}()
			wait(killed)
		}
		wait(ended)
	}
	return isClosed(ended)
}

// killGroup kills process group pgid on the host.
func (c *conn) killGroup(pgid int) {
	ks, err := c.client.NewSession()
	if err != nil {
		return // the connection is ending, and sshd kills nothing then either
	}
	defer ks.Close()
	// Fails when the group has already gone, which is what we want.
	_ = ks.Run("kill -9 -" + strconv.Itoa(pgid))
}

// stepLimit words the time limit that ends a step run under ctx with
// the given step timeout (see stopped): " after 5m0s", its step timeout;
// or, when ctx's own deadline comes first (status's, a recovery's), that
// one, which must not be reported as the step timeout. Called before the
// step starts.
func stepLimit(ctx context.Context, timeout time.Duration) string {
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d); timeout <= 0 || left < timeout {
			return fmt.Sprintf(" at the time limit of its caller, %s after it began", max(left, 0).Round(time.Millisecond))
		}
	}
	if timeout > 0 {
		return " after " + timeout.String()
	}
	return ""
}

// stopped is the error for a run ended by its context; limit is the
// step's stepLimit.
func (c *conn) stopped(ctx context.Context, limit string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("ssh: %s: step timed out%s: %w", c.name, limit, context.DeadlineExceeded)
	}
	return fmt.Errorf("ssh: %s: step canceled: %w", c.name, ctx.Err())
}

// unkilled is the error for a run ended by its context whose script the
// host was not seen to end: the host did not answer the kill in time (it
// hung, or is cut off without its connection having ended yet), and what
// the script began may still run there. It wraps deploy.ErrUnreachable,
// so that the run marks the host lost and the next one stops what is
// left of the script (see deploy.HostResult.Lost).
func (c *conn) unkilled(ctx context.Context, limit string) error {
	return fmt.Errorf("%w, then %w: %s did not answer its kill within %s; the step may still be running there",
		c.stopped(ctx, limit), deploy.ErrUnreachable, c.addr, killGrace)
}

// Close ends the session. Its connection is kept warm for the next Open
// of the host when the transport keeps connections warm and the
// connection is sound; otherwise it is closed (and the bastion's). Run
// fails after Close. Calls after the first return nil once it returned.
func (s *session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if !s.spoiled && s.t.park(s.conn) {
			return
		}
		err = s.conn.close()
	})
	return err
}

// close closes the connection and the bastion's.
func (c *conn) close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	dead := c.isDone()
	err := c.client.Close()
	if c.jump != nil {
		c.jump.Close() // nothing is left to lose on it
	}
	// Closing a connection that is already ending reports EOF or
	// ErrClosed: nothing was lost by closing it.
	if err != nil && !dead && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("ssh: %s: close: %w", c.name, err)
	}
	return nil
}

// lockedBuffer is the script's standard output, as much of it as
// scriptio.Output keeps: written by the session's copying goroutine and
// read by Run, which returns before that goroutine ends when a step times
// out.
type lockedBuffer struct {
	mu  sync.Mutex
	out scriptio.Output
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

// Bytes returns a copy of what was kept so far.
func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Bytes()
}

// stderrWriter is the script's standard error. It takes out the wrapper's
// process group line, keeps the group id, and passes everything else to a
// scriptio.Tail; lines before the wrapper's come from the login shell's
// startup files.
type stderrWriter struct {
	tail scriptio.Tail
	// ready is closed once the process group line was seen or given up on.
	ready chan struct{}

	mu      sync.Mutex
	past    bool // past the process group line
	pending []byte
	pgid    int
}

func newStderrWriter() *stderrWriter {
	return &stderrWriter{tail: scriptio.Tail{Max: stderrTail}, ready: make(chan struct{})}
}

func (w *stderrWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.past {
		return w.tail.Write(p)
	}
	w.pending = append(w.pending, p...)
	for !w.past {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			if len(w.pending) > maxPreamble {
				w.passAll()
			}
			break
		}
		line := w.pending[:i]
		if id, ok := bytes.CutPrefix(line, []byte(pgidMarker)); ok {
			if n, err := strconv.Atoi(string(id)); err == nil && n > 1 {
				w.pgid = n
			}
			w.pending = w.pending[i+1:]
			w.passAll()
			break
		}
		w.tail.Write(w.pending[:i+1])
		w.pending = w.pending[i+1:]
	}
	return len(p), nil
}

// passAll ends the search for the process group line.
func (w *stderrWriter) passAll() {
	w.tail.Write(w.pending)
	w.pending = nil
	w.past = true
	close(w.ready)
}

// PGID returns the script's process group id, or 0 if it is not known.
func (w *stderrWriter) PGID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pgid
}

// String returns the kept tail of the script's standard error.
func (w *stderrWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.past {
		// The wrapper never spoke: whatever came is all there is, the
		// whole lines already passed on and the rest. It is what a
		// login that ran something else than the wrapper (a
		// ForceCommand, a nologin shell) says of why.
		if head := w.tail.String(); head != "" {
			return scriptio.TailOf([]byte(head+"\n"+string(w.pending)), stderrTail)
		}
		return scriptio.TailOf(w.pending, stderrTail)
	}
	return w.tail.String()
}
