package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/shell"
)

// An action is one step of switching a host over: a host script, or a call
// the bot makes itself (an HTTP health probe, a load balancer command).
type action struct {
	step Step
	// script is a host script run with timeout; call is the bot's own.
	script  string
	timeout time.Duration
	call    func() error
	// retry, for a host script, takes over when the script exited
	// non-zero: the further attempts of a health check. It gets that
	// first failure and when the script started.
	retry func(first error, began time.Time) error
	// passed, when set, is called as soon as the step succeeds, before
	// the next one starts: the switch records a host's new release there,
	// so a crash during a long restart leaves the truth behind.
	passed func()
	// back marks the steps of a switch back (see Event.Back).
	back bool
}

// pass calls a's passed hook, if any.
func (a action) pass() {
	if a.passed != nil {
		a.passed()
	}
}

// perform runs acts on h in order, stopping at the first that fails, and
// returns how many succeeded. Consecutive host scripts run as one chain in
// a single session: a session costs a host about as much CPU as the switch
// itself, and switching, restarting and checking a host are three or more
// of them.
func (r *run) perform(ctx context.Context, h Host, acts []action) (int, error) {
	for i := 0; i < len(acts); {
		a := acts[i]
		if a.call != nil {
			if err := r.call(ctx, h, a); err != nil {
				return i, err
			}
			a.pass()
			i++
			continue
		}
		j := i + 1
		for j < len(acts) && acts[j].call == nil {
			j++
		}
		n, err := r.chain(ctx, h, acts[i:j])
		i += n
		if err != nil {
			return i, err
		}
	}
	return len(acts), nil
}

// Each script of a chain runs in a subshell of its own, through eval (a
// syntax error in one surfaces when its turn comes, as if it ran alone),
// after a line on standard error that separates its messages from the
// previous script's, and before a line on standard output with its status.
// The status line carries a nonce of the chain's (see statusMark), so that
// a script printing such a line of its own cannot pass for succeeding.
const (
	chainErrMark    = "@@switchman-next-step"
	chainStatusMark = "@@switchman-step-status-"
)

// statusMark returns a fresh start of a chain's status lines.
func statusMark() string { return chainStatusMark + nonce() + " " }

func chainScript(acts []action, mark string) string {
	var b strings.Builder
	for i, a := range acts {
		fmt.Fprintf(&b, "echo %s >&2\n( eval %s )\nrc=$?\necho\necho '%s%d' \"$rc\"\n[ \"$rc\" = 0 ] || exit \"$rc\"\n",
			chainErrMark, shell.Quote(a.script), mark, i)
	}
	return b.String()
}

// chainStatus returns the exit status each script of a chain reported, in
// order; a script that did not report (the chain was cut short) has none.
// The first passed scripts are known to have passed from the output as it
// streamed: of a long output a transport returns only the end, which may
// have lost their status lines but holds the one after them, the chain's
// last line.
func chainStatus(out []byte, mark string, passed int) []int {
	st := make([]int, passed)
	for _, line := range bytes.Split(out, []byte("\n")) {
		if i, code, ok := statusLine(line, mark); ok && i == len(st) {
			st = append(st, code)
		}
	}
	return st
}

// statusLine parses a chain's status line: the script's index and status.
func statusLine(line []byte, mark string) (int, int, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(mark))
	if !ok {
		return 0, 0, false
	}
	idx, code, ok := bytes.Cut(rest, []byte(" "))
	i, err1 := strconv.Atoi(string(idx))
	c, err2 := strconv.Atoi(string(code))
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return i, c, true
}

// lastStep keeps the standard error of the last script of a chain that
// ran. The mark may end it without its newline (a transport trims
// trailing newlines): the script then wrote nothing.
func lastStep(stderr string) string {
	if i := strings.LastIndex(stderr, chainErrMark); i >= 0 {
		return strings.TrimPrefix(stderr[i+len(chainErrMark):], "\n")
	}
	return stderr
}

// chain runs the host scripts acts in one session, emitting each one's
// start and end as if it ran alone, and returns how many succeeded. A
// script with a retry that exits non-zero hands over to it; the scripts
// after it then run in a chain of their own.
func (r *run) chain(ctx context.Context, h Host, acts []action) (int, error) {
	if len(acts) == 0 {
		return 0, nil
	}
	if len(acts) == 1 && acts[0].retry == nil {
		if _, err := r.step(ctx, h, acts[0].step, Command{Script: acts[0].script, Timeout: acts[0].timeout, Lingering: r.lingering(h, acts)}); err != nil {
			return 0, err
		}
		acts[0].pass()
		return 1, nil
	}
	// Each script has its own time limit, counted from the end of the
	// one before, as if it ran alone.
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	limit := func(i int) *time.Timer {
		if acts[i].timeout <= 0 {
			return nil
		}
		return time.AfterFunc(acts[i].timeout, func() { cancel(&stepTimedOut{acts[i].timeout}) })
	}
	timer := limit(0)
	began := time.Now() // of the script running now
	passed := func(i int) {
		if timer != nil {
			timer.Stop()
		}
		acts[i].pass()
		r.emit(Event{Kind: EventStep, Host: h.Name, Step: acts[i].step, Back: acts[i].back, Done: true})
		if i+1 < len(acts) {
			timer, began = limit(i+1), time.Now()
			r.emit(Event{Kind: EventStep, Host: h.Name, Step: acts[i+1].step, Back: acts[i+1].back})
		}
	}
	r.emit(Event{Kind: EventStep, Host: h.Name, Step: acts[0].step, Back: acts[0].back})
	mark := statusMark()
	live := &chainProgress{mark: mark, passed: passed}
	out, runErr := r.sessions[h.Name].Run(ctx, Command{Script: chainScript(acts, mark), Stdout: live, Lingering: r.lingering(h, acts)})
	var timedOut *stepTimedOut
	if errors.As(context.Cause(ctx), &timedOut) {
		runErr = timedOut
	}
	stderr := ""
	exit := (*ExitError)(nil)
	if errors.As(runErr, &exit) {
		stderr = lastStep(exit.Stderr)
		runErr = exit.exited(exit.Code, stderr)
	}
	seen := live.close()
	status := chainStatus(out, mark, seen)
	for i := seen; i < len(acts); i++ {
		a := acts[i]
		if i < len(status) && status[i] == 0 {
			passed(i)
			continue
		}
		if timer != nil {
			timer.Stop()
		}
		var err error
		switch {
		case i < len(status):
			err = exit.exited(status[i], stderr)
		case runErr != nil:
			err = runErr
		default:
			err = errors.New("the host reported no status for this step")
		}
		if a.retry != nil && i < len(status) {
			err = a.retry(err, began)
			if err == nil {
				a.pass()
				r.emit(Event{Kind: EventStep, Host: h.Name, Step: a.step, Back: a.back, Done: true})
				n, err := r.chain(parent, h, acts[i+1:])
				return i + 1 + n, err
			}
		}
		err = stepFailed(a.step, h.Name, err)
		r.emit(Event{Kind: EventStep, Host: h.Name, Step: a.step, Back: a.back, Done: true, Err: err.Error()})
		return i, err
	}
	return len(acts), nil
}

// lingering returns what tells people that the restart or a hook among
// acts left a process holding the step's output (see Command.Lingering),
// or nil when acts run neither. Such a process is the app, typically,
// started with nohup and no redirection: it runs, passes its health
// check, and dies of SIGPIPE at its first write after the bot stops
// reading, when the connection closes (keep_warm after the deploy).
func (r *run) lingering(h Host, acts []action) func(string) {
	var restart, hook, migrate bool
	for _, a := range acts {
		restart = restart || a.step == StepRestart
		hook = hook || a.step == StepHook
		migrate = migrate || a.step == StepMigrate
	}
	var what string
	switch {
	case restart && hook:
		what = "the restart or a hook"
	case restart:
		what = "the restart"
	case hook:
		what = "a hook"
	case migrate:
		what = "the migration"
	default:
		return nil
	}
	return func(who string) {
		if who == "" {
			who = "a process"
		}
		r.note("⚠ %s: %s left %s holding its output, which the bot stops reading once it is done with the host: it gets SIGPIPE at its next write, and most programs die of it. Redirect its output (>>log 2>&1 </dev/null) or start it from a service manager", h.Name, what, who)
	}
}

// chainProgress follows a chain's standard output as it arrives and calls
// passed for each script that succeeded, in order, so progress shows the
// step a host is on while a long restart runs. Failures are left to the
// end of the chain, which has the error; so is the output of a chain whose
// transport does not stream it.
type chainProgress struct {
	mark   string // the chain's statusMark
	passed func(i int)

	mu     sync.Mutex
	line   []byte
	seen   int
	closed bool
}

func (p *chainProgress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for rest := b; !p.closed && len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			// Only a status line matters, and it is short.
			if len(p.line) < 256 {
				p.line = append(p.line, rest[:min(len(rest), 256-len(p.line))]...)
			}
			break
		}
		line := append(p.line, rest[:i]...)
		rest, p.line = rest[i+1:], p.line[:0]
		if idx, code, ok := statusLine(line, p.mark); ok && code == 0 && idx == p.seen {
			p.passed(idx)
			p.seen++
		}
	}
	return len(b), nil
}

// close stops following and returns how many scripts passed already.
func (p *chainProgress) close() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return p.seen
}

// stepTimedOut ends a chain whose current script outlasted its limit.
type stepTimedOut struct{ after time.Duration }

func (e *stepTimedOut) Error() string { return fmt.Sprintf("step timed out after %s", e.after) }
func (e *stepTimedOut) Unwrap() error { return context.DeadlineExceeded }
