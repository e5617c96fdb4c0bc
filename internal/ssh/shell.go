package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/scriptio"
)

// A step without standard input runs in a shell that the connection keeps
// for such steps, rather than in an SSH session of its own. A session
// costs the host a fork of sshd and the start of the login shell and of
// /bin/sh, 16 ms on an open connection on a small VM. The shell runs each
// step in a subshell, a fork without an exec: a /bin/sh of its own per
// step cost 4 ms there, and a rollback runs two steps per host, 50 hosts
// sharing two cores.
//
// The shell reads a step as a line holding a fresh random nonce, the
// script's lines, and a line that is the nonce again. It runs the script
// in a subshell (no arguments, none of the loop's variables, standard
// input from /dev/null; a cd, an exit or a set -e stays in it), then
// writes a marker (\036, the nonce, a space, the exit status) on standard
// output and on standard error. Everything before a marker is that step's.
// The nonces come on standard input, never in the shell's arguments, which
// anyone on the host can read (ps, /proc/PID/cmdline): a step that learnt
// one could end itself early with a marker of its own, and each step's
// nonce being its own, even that would not shift the next step's result. The subshell's $$ is the shell's, as in any
// subshell: a script that signals $$ signals the shell (see Run). The
// shell is the session's /bin/sh, which leads its process group, and the
// steps run in that group, and so does what a step left running in the
// background (an app a restart started with nohup). A step that times out
// is therefore killed as a tree, the shell's children and their
// descendants, never as the group: the shell reports the killed step's
// end and goes on with the next.

// markerStart begins every marker: ASCII record separator, which scripts
// seldom print, so output is only held back while it could be a marker.
const markerStart = '\036'

// shellScript is the loop the shell runs. Its first line of input is the
// nonce of its start's marker. Reading a script and reporting its end use
// builtins only. A step's first line also carries its id, k, random like
// a nonce but not secret: the subshell exports it as SWITCHMAN_STEP, so
// that every program the step starts carries it in its environment, and
// a timed-out step's programs are found by it even once their parent has
// exited (see killTreeScript). Being random, it names no process that an
// earlier shell's step of the same pid left running. A third word, r, is
// the token of the run the step is of (deploy.Command.Run), or "-" for
// none: the subshell exports it as SWITCHMAN_RUN, which a later run
// finds what this one left running by, should the bot die. A fourth, c,
// asks which processes still hold the shell's standard output or error
// once the step has ended: a program a restart left in the background
// without redirecting its output, which gets SIGPIPE at its next write
// once the connection closes. The shell's own stdout marker then lists
// them after the status, as PID(COMM), COMM reduced to a safe word. The
// search stats a few files for each process started after the shell
// (their pids are greater, but for a wrap of the pid counter, when one
// may be missed): with every process of a host, 1,000 of them, it took
// 17 ms of CPU; with those started since, 1 ms. Only steps that ask for
// it pay even that: the engine does for the restart and hooks
// (deploy.Command.Lingering). A copy of the shell itself (its program and
// its name) is passed over: it is the shell forked to start a background
// command, which holds the output until it applies that command's
// redirections and execs, and on a busy host the search came first
// ("nohup app >log 2>&1 &" named as "pid 42 (sh)"). While such a copy
// holds the output, the search is made again every 50 ms, for a second at
// most: the copy execs or redirects within moments, but on a loaded host
// the search ran first, passed it over, and missed the app it became
// ("nohup app 2>/dev/null &" named in no note). What a background
// subshell runs is still found; a subshell writing with builtins alone is
// not, and holds the step's report up for that second.
const shellScript = `IFS= read -r n || exit 0
printf '\036%s %d\n' "$n" "$$"
printf '\036%s 0\n' "$n" >&2
while IFS=' ' read -r n k r c; do
	s= ok=
	while IFS= read -r l; do
		if [ "$l" = "$n" ]; then ok=1; break; fi
		s="$s$l
"
	done
	[ -n "$ok" ] || exit 0
	(
		SWITCHMAN_STEP=$k
		export SWITCHMAN_STEP
		case $r in -) ;; *) SWITCHMAN_RUN=$r; export SWITCHMAN_RUN ;; esac
		set -- "$s"
		unset n k r c s l ok rc d m t w
		eval "shift
$1"
	) </dev/null
	rc=$?
	l=
	if [ -n "$c" ]; then
		m=
		read -r m 2>/dev/null </proc/$$/comm
		t=0
		while :; do
			l= w=
			for d in /proc/[0-9]*; do
				[ "${d#/proc/}" -gt $$ ] || continue
				[ "$d/fd/1" -ef /proc/$$/fd/1 ] || [ "$d/fd/2" -ef /proc/$$/fd/2 ] || continue
				c=?
				read -r c 2>/dev/null <"$d/comm"
				if [ "$c" = "$m" ] && [ "$d/exe" -ef /proc/$$/exe ]; then w=1; continue; fi
				case $c in *[!A-Za-z0-9._+-]*|'') c=? ;; esac
				l="$l ${d#/proc/}($c)"
			done
			[ -n "$w" ] && [ "$t" -lt 20 ] || break
			t=$((t + 1))
			sleep 0.05 >/dev/null 2>&1 </dev/null || break
		done
	fi
	printf '\036%s %d%s\n' "$n" "$rc" "$l"
	printf '\036%s %d\n' "$n" "$rc" >&2
done
exit 0`

// stepShell is a running shell.
type stepShell struct {
	sess  *ssh.Session
	stdin io.WriteCloser
	pgid  int
	out   *demux
	errs  *demux
	// ended is closed when the shell's session has ended; exit is how,
	// read once it is.
	ended chan struct{}
	exit  error
}

// startShell starts the connection's shell and waits for it to report
// its process group, bounded by ctx.
func (c *conn) startShell(ctx context.Context) (*stepShell, error) {
	nonce, err := newNonce()
	if err != nil {
		return nil, fmt.Errorf("ssh: %s: nonce: %w", c.name, err)
	}
	sess, err := c.newSession()
	if err != nil {
		return nil, err
	}
	sh := &stepShell{sess: sess, ended: make(chan struct{}),
		out: newDemux(scriptio.MaxOutput, true), errs: newDemux(stderrTail, false)}
	sess.Stdout, sess.Stderr = sh.out, sh.errs
	if sh.stdin, err = sess.StdinPipe(); err != nil {
		sess.Close()
		return nil, fmt.Errorf("ssh: %s: stdin: %w", c.name, err)
	}
	// The first "step" is the shell's start: its output is what the login
	// shell's startup files and the wrapper print, and its status the
	// process group id.
	first := sh.expect(nonce, nil)
	failed := func(err error) (*stepShell, error) {
		sess.Close()
		if c.gone(err) {
			return nil, c.lost()
		}
		return nil, fmt.Errorf("ssh: %s: start shell: %w", c.name, err)
	}
	if err := sess.Start(remoteCommand(shellScript)); err != nil {
		if !c.gone(err) {
			sess.Close()
			return nil, fmt.Errorf("ssh: %s: %w", c.name, errExecRefused)
		}
		return failed(err)
	}
	go func() {
		sh.exit = sess.Wait()
		close(sh.ended)
	}()
	// EOF is the host closing the channel: a login that runs something
	// else than the shell (a ForceCommand that exits at once) may have
	// ended already. Its end, awaited below, says why, as does that of
	// a connection that is gone; taken for a network error here, it read
	// as "connection lost" on a fast host.
	if _, err := io.WriteString(sh.stdin, nonce+"\n"); err != nil && !errors.Is(err, io.EOF) {
		return failed(err)
	}
	res, err := sh.wait(ctx, first)
	if err != nil {
		sess.Close()
		if c.isDone() {
			return nil, c.lost()
		}
		// A login that ran something else than the shell (a
		// ForceCommand, a nologin shell, a startup file that exits)
		// exits saying why on standard error, as it would for a script
		// in a session of its own: an ExitError, whose text is hidden
		// and unmarked as a script's is (see deploy.ExitError, Run).
		var exit *ssh.ExitError
		if errors.Is(err, errShellEnded) && errors.As(sh.exit, &exit) {
			return nil, fmt.Errorf("ssh: %s: start shell: %w", c.name,
				&deploy.ExitError{Code: exit.ExitStatus(), Stderr: strings.TrimSpace(string(sh.errs.partial()))})
		}
		return nil, fmt.Errorf("ssh: %s: start shell: %w", c.name, err)
	}
	sh.pgid = res.status
	return sh, nil
}

// newNonce returns a fresh random marker nonce.
func newNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// stepResult is what a step's markers said.
type stepResult struct {
	status    int
	stdout    []byte
	stderr    string
	lingering []string
}

// pending is a step whose markers are awaited.
type pending struct {
	// out and errs deliver the markers; each is nil once its marker was
	// taken, so that a wait that gave up can be taken up again (see
	// killStep) for the marker still to come.
	out, errs <-chan demuxed
	res       stepResult
	// step is the step's id ("": the shell's start).
	step string
}

// take records d, from out or from errs.
func (p *pending) take(d demuxed, fromOut bool) {
	if fromOut {
		p.res.status, p.res.stdout, p.res.lingering = d.status, d.body, d.lingering
		p.out = nil
		return
	}
	p.res.stderr = string(d.body)
	p.errs = nil
}

// done reports whether both markers were taken.
func (p *pending) done() bool { return p.out == nil && p.errs == nil }

// drain takes the markers already delivered, without waiting, and
// reports whether both now are.
func (p *pending) drain() bool {
	for !p.done() {
		select {
		case d := <-p.out:
			p.take(d, true)
		case d := <-p.errs:
			p.take(d, false)
		default:
			return false
		}
	}
	return true
}

// expect readies both streams for the next step, whose markers carry
// nonce; live, if set, also gets its standard output as it arrives.
func (sh *stepShell) expect(nonce string, live io.Writer) *pending {
	return &pending{out: sh.out.next(nonce, live), errs: sh.errs.next(nonce, nil)}
}

// wait waits for both markers of p, for the shell to end, or for ctx. A
// step whose markers both came is done, whatever else happened at the
// same time: a shell that ended after reporting it (its output is all
// delivered before it counts as ended), a ctx done as it ended.
func (sh *stepShell) wait(ctx context.Context, p *pending) (stepResult, error) {
	for !p.done() {
		select {
		case d := <-p.out:
			p.take(d, true)
		case d := <-p.errs:
			p.take(d, false)
		case <-sh.ended:
			if p.drain() {
				return p.res, nil
			}
			return p.res, errShellEnded
		case <-ctx.Done():
			if p.drain() {
				return p.res, nil
			}
			return p.res, ctx.Err()
		}
	}
	return p.res, nil
}

var errShellEnded = errors.New("the shell ended")

// describeLingering names the processes a marker listed, "pid 42 (app)",
// keeping only what has the form the shell writes. A name that is not a
// safe word is "?", as the shell writes it: the list is the host's, and a
// host that wrote a name of its own (in the marks of the bot's suggested
// commands, say) would have it quoted in the run's notes.
func describeLingering(list []string) string {
	var names []string
	for _, w := range list {
		pid, comm, ok := strings.Cut(strings.TrimSuffix(w, ")"), "(")
		if _, err := strconv.Atoi(pid); err != nil || !ok {
			continue
		}
		if !safeWord(comm) {
			comm = "?"
		}
		if len(names) == 10 {
			names = append(names, "…")
			break
		}
		names = append(names, fmt.Sprintf("pid %s (%s)", pid, comm))
	}
	return strings.Join(names, ", ")
}

// safeWord reports whether w is a process name as the shell passes it
// on: letters, digits and ._+- only.
func safeWord(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._+-", r)) {
			return false
		}
	}
	return true
}

// runInShell runs cmd, which has no standard input, in the connection's
// shell, starting one first if it has none.
func (s *session) runInShell(ctx context.Context, cmd deploy.Command, limit string) ([]byte, error) {
	var in strings.Builder
	in.WriteString(cmd.Script)
	if !strings.HasSuffix(cmd.Script, "\n") {
		in.WriteByte('\n')
	}
	var sh *stepShell
	var p *pending
	// A shell that ended between steps (killed on the host, say) has run
	// nothing of this step: a new one takes it, once.
	for attempt := 0; ; attempt++ {
		if s.sh != nil && isClosed(s.sh.ended) {
			s.dropShell()
		}
		if s.sh == nil {
			started, err := s.startShell(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil, s.stopped(ctx, limit)
				}
				return nil, err
			}
			s.sh = started
		}
		sh = s.sh
		nonce, err := newNonce()
		if err != nil {
			return nil, fmt.Errorf("ssh: %s: nonce: %w", s.name, err)
		}
		p = sh.expect(nonce, cmd.Stdout)
		if p.step, err = newNonce(); err != nil {
			return nil, fmt.Errorf("ssh: %s: step id: %w", s.name, err)
		}
		header := nonce + " " + p.step + " " + runWord(cmd.Run)
		if cmd.Lingering != nil {
			header += " 1"
		}
		_, err = io.WriteString(sh.stdin, header+"\n"+in.String()+nonce+"\n")
		if err == nil {
			break
		}
		s.dropShell()
		if s.isDone() || (attempt > 0 && s.gone(err)) {
			return nil, s.lost()
		}
		if attempt > 0 {
			return nil, fmt.Errorf("ssh: %s: send script: %w", s.name, err)
		}
	}
	res, err := sh.wait(ctx, p)
	if err == nil && len(res.lingering) > 0 && cmd.Lingering != nil {
		cmd.Lingering(describeLingering(res.lingering))
	}
	switch {
	case err == nil && res.status == 0:
		return res.stdout, nil
	case err == nil:
		return res.stdout, &deploy.ExitError{Code: res.status, Stderr: strings.TrimSpace(res.stderr)}
	case ctx.Err() != nil:
		// What the step wrote so far, before its end marker resets it.
		out := sh.out.partial()
		killed := s.killStep(p)
		if s.isDone() {
			return out, s.lost()
		}
		if !killed {
			return out, s.unkilled(ctx, limit)
		}
		return out, s.stopped(ctx, limit)
	default:
		out := sh.out.partial()
		stderr := strings.TrimSpace(string(sh.errs.partial()))
		s.dropShell()
		if s.gone(errShellEnded) {
			return out, s.lost()
		}
		// The shell's status and what the script wrote before it ended
		// the shell (often why), as a script that ends itself in a
		// session of its own: an ExitError, whose text is hidden and
		// unmarked as a script's is (see deploy.ExitError, Run).
		var exit *ssh.ExitError
		if errors.As(sh.exit, &exit) {
			return out, fmt.Errorf("ssh: %s: the script ended its shell before reporting its status: %w", s.name,
				&deploy.ExitError{Code: exit.ExitStatus(), Stderr: stderr})
		}
		return out, fmt.Errorf("ssh: %s: the script ended its shell before reporting its status", s.name)
	}
}

// runWord is a run token as a step's header carries it: "-" for none.
func runWord(run string) string {
	if run == "" {
		return "-"
	}
	return run
}

// killStep kills the shell's running step, whose markers p awaits: the
// shell's children and all their descendants, and what the step started
// that has outlived its parent (see killTreeScript). The shell
// then reports the step's end and is kept; when it does not within
// killGrace of the kill, it is dropped. It reports whether the step was
// seen to end.
func (c *conn) killStep(p *pending) bool {
	sh := c.sh
	if sh == nil {
		return false
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		c.killTree(sh.pgid, p.step)
	}()
	grace := func(ch <-chan struct{}) bool {
		t := time.NewTimer(killGrace)
		defer t.Stop()
		select {
		case <-ch:
			return true
		case <-t.C:
		case <-c.done:
		}
		return false
	}
	if grace(killed) {
		ctx, cancel := context.WithTimeout(context.Background(), killGrace)
		_, err := sh.wait(ctx, p)
		cancel()
		if err == nil {
			return true
		}
	}
	c.dropShell()
	return false
}

// killTreeScript kills the descendants of process %[1]d, stopping each
// before listing its children so that none can fork meanwhile, then
// killing them all. Children are listed with pgrep, or from /proc where
// there is none. It also kills the processes whose environment marks
// them as started by the step whose id is %[2]s (see shellScript): a
// program the step started in the background from a process that has
// exited since (sh -c 'worker &', a daemon's double fork) is no longer
// anyone's descendant here. A program that clears its environment, or
// calls setsid and re-execs without it, escapes both.
const killTreeScript = `kids() {
	if command -v pgrep >/dev/null 2>&1; then pgrep -P "$1"; return 0; fi
	for d in /proc/[0-9]*; do
		while read -r k v; do
			if [ "$k" = PPid: ]; then [ "$v" = "$1" ] && echo "${d#/proc/}"; break; fi
		done <"$d/status" 2>/dev/null
	done
}
all=
walk() {
	kill -STOP "$1" 2>/dev/null || return 0
	all="$all $1"
	for k in $(kids "$1"); do walk "$k"; done
}
for c in $(kids %[1]d); do walk "$c"; done
for f in $(grep -l -a -F "SWITCHMAN_STEP=%[2]s" /proc/[0-9]*/environ 2>/dev/null); do
	p=${f#/proc/}
	walk "${p%%%%/*}"
done
[ -z "$all" ] || kill -KILL $all 2>/dev/null
exit 0
`

// killTree kills the step whose id is step, running in the shell whose
// pid is shellPID, in a session of its own.
func (c *conn) killTree(shellPID int, step string) {
	ks, err := c.client.NewSession()
	if err != nil {
		return // the connection is ending, and sshd kills nothing then either
	}
	defer ks.Close()
	_ = ks.Run(remoteCommand(fmt.Sprintf(killTreeScript, shellPID, step)))
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// dropShell closes the shell's session; the next step starts a new shell.
func (c *conn) dropShell() {
	if c.sh != nil {
		c.sh.sess.Close()
		c.sh = nil
	}
}

// demuxed is a step's part of one stream and the status its marker gave.
type demuxed struct {
	status int
	body   []byte
	// lingering is what the marker listed after the status: the
	// processes holding the shell's output once the step ended.
	lingering []string
}

// demux splits a shell's stream at its markers. Bytes that could be the
// start of a marker are held back until the next write decides; all
// others go on at once to the step's live writer. Output while no step is
// awaited (a background process's) is dropped.
type demux struct {
	// noted: a body cut short starts with a line saying so (standard
	// output, see scriptio.Output); otherwise it is the bare tail.
	noted bool

	mu    sync.Mutex
	held  []byte
	body  scriptio.Output // the current step's, up to its Max
	steps []awaited       // oldest first
}

// awaited is a step whose end a caller waits for: its marker is \036,
// its nonce and a space.
type awaited struct {
	marker []byte
	end    chan demuxed
	live   io.Writer
}

// newDemux returns a demux keeping the last limit bytes of each step's
// body.
func newDemux(limit int, noted bool) *demux {
	return &demux{noted: noted, body: scriptio.Output{Max: limit}}
}

// next registers the next step, whose marker carries nonce, and returns
// where its end is delivered.
func (d *demux) next(nonce string, live io.Writer) <-chan demuxed {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := make(chan demuxed, 1)
	d.steps = append(d.steps, awaited{marker: []byte(string(markerStart) + nonce + " "), end: ch, live: live})
	return ch
}

// partial is what the current step has written so far.
func (d *demux) partial() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.kept()
}

// kept is the current step's body as the step gets it.
func (d *demux) kept() []byte {
	if d.noted {
		return d.body.Bytes()
	}
	return d.body.Tail()
}

func (d *demux) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	buf := append(d.held, p...)
	d.held = nil
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, markerStart)
		if i < 0 {
			d.emit(buf)
			break
		}
		d.emit(buf[:i])
		buf = buf[i:]
		if len(d.steps) == 0 {
			buf = buf[1:] // nobody awaits it (see emit)
			continue
		}
		marker := d.steps[0].marker
		n := min(len(buf), len(marker))
		if !bytes.Equal(buf[:n], marker[:n]) {
			d.emit(buf[:1]) // a \036 of the script's own
			buf = buf[1:]
			continue
		}
		end := bytes.IndexByte(buf, '\n')
		if n < len(marker) || end < 0 {
			d.held = bytes.Clone(buf) // the rest of the marker is to come
			break
		}
		st, rest, _ := strings.Cut(string(buf[len(marker):end]), " ")
		status, err := strconv.Atoi(st)
		if err != nil {
			status = -1
		}
		d.finish(status, strings.Fields(rest))
		buf = buf[end+1:]
	}
	return len(p), nil
}

// emit adds b to the current step's body and passes it on.
func (d *demux) emit(b []byte) {
	if len(b) == 0 || len(d.steps) == 0 {
		return
	}
	d.body.Write(b)
	if w := d.steps[0].live; w != nil {
		_, _ = w.Write(b) // the step's caller reads its own errors
	}
}

// finish ends the current step.
func (d *demux) finish(status int, lingering []string) {
	body := d.kept()
	d.body.Reset()
	if len(d.steps) == 0 {
		return
	}
	d.steps[0].end <- demuxed{status: status, body: body, lingering: lingering}
	d.steps = d.steps[1:]
}
