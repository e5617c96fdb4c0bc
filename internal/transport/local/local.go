// Package local runs deploy scripts on the machine the bot runs on, with
// /bin/sh, as the deploy.Transport for hosts without an address.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/scriptio"
	"github.com/switchman-bot/switchman/internal/shell"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// waitDelay is how long Run waits, after the shell has exited, for its
// output pipes to close. A script that starts a daemon which keeps them
// open still returns after this delay.
const waitDelay = time.Second

// scriptFromFD3 runs the script the shell reads from its descriptor 3 in
// the shell itself, as sh -c SCRIPT would: its exit, set -e and $0 are
// the shell's. The shell gets one argument, stepShellArg, which it drops
// before: it marks the shell as one that runs a step, in its command line,
// as the SSH transport's are marked (their $0), for a later run that
// stops what a dead one left running (see deploy.Command.Run).
const scriptFromFD3 = "shift; . /dev/fd/3"

// stepShellArg is the argument that marks the shell.
const stepShellArg = "switchman"

// stderrTail is how much of a script's standard error is kept.
const stderrTail = 4 << 10

// Transport runs scripts on the local machine. Its zero value is ready to
// use; it is safe for concurrent use.
type Transport struct {
	// Env lists extra environment variables, KEY=VALUE, for every script,
	// added to the few it gets from the bot's own environment (see
	// inherited). They win over those.
	Env []string
}

// inherited are the variables of the bot's environment that scripts get,
// with LC_*: what programs need to find their tools, home directory,
// locale and time zone. Nothing else: the bot's environment holds its
// secrets (chat tokens, the store's URL, a key's passphrase, the
// ssh-agent's socket), and a script passes its environment on to the app
// a restart starts, which would then hold them for as long as it runs.
var inherited = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "SHELL",
	// A proxy and CA certificates the bot's own downloads use, which a
	// pull delivery's curl on this machine needs as well.
	"http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE"}

// scriptEnv returns the inherited part of the bot's environment, then
// extra.
func scriptEnv(extra []string) []string {
	// Never nil: exec gives a command with a nil Env the bot's whole
	// environment, which a bot started with none of inherited (env -i, a
	// unit that sets only its secrets) would have handed every script.
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(inherited, k) || strings.HasPrefix(k, "LC_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

var _ deploy.Transport = (*Transport)(nil)

// Open returns a session for host. Every host is this machine: its name is
// only a label.
func (t *Transport) Open(ctx context.Context, host deploy.Host) (deploy.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &session{env: scriptEnv(t.Env)}, nil
}

// session is used by one goroutine at a time, as deploy.Session says.
type session struct {
	env    []string
	closed bool
}

// Run runs cmd.Script with /bin/sh -c in its own process group and returns
// its standard output (also when it returns an error, as far as it got):
// past 4 MiB, its last 4 MiB after a line saying how much was dropped (see
// scriptio.Output); cmd.Stdout gets all of it.
// The script's environment is the transport's Env and, of the bot's own
// environment, only the variables listed in inherited and LC_*; with
// cmd.Run, SWITCHMAN_RUN as well.
//
// A script that exits non-zero returns a *deploy.ExitError carrying the
// last 4 KiB of its standard error. When ctx is done or cmd.Timeout passes,
// the whole process group is killed and the error wraps
// context.DeadlineExceeded ("step timed out") or context.Canceled.
//
// Run returns once the shell has exited, waiting at most a second more for
// its output pipes to close: a background process the script started may
// keep running, and is not killed when Run returns normally. Such a process
// should redirect its output; if it keeps writing to the inherited pipes it
// gets EPIPE once Run has returned. Run then calls cmd.Lingering, if set,
// whether the script succeeded or failed (not when ctx or cmd.Timeout
// ended it).
//
// If reading cmd.Stdin fails while the shell runs, the process group is
// killed so that the script never mistakes a broken stream for a complete
// one, and the error is returned. If the shell exits while a Read of
// cmd.Stdin is blocked, Run returns without waiting for it; that Read may
// still be in progress, so the caller must unblock it (for example by
// closing the pipe it reads) before using the reader again. Its failure
// then kills nothing.
//
// What Run returns, output and standard error, is without the marks of
// the bot's suggested commands (see suggest): a script's words are
// quoted in progress, records and replies, where a command it printed
// between them would pass for the bot's suggestion. cmd.Stdout gets the
// output as written.
func (s *session) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	out, err := s.run(ctx, cmd)
	if exit := (*deploy.ExitError)(nil); errors.As(err, &exit) {
		exit.Stderr = suggest.Strip(exit.Stderr)
	}
	return suggest.StripBytes(out), err
}

func (s *session) run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if s.closed {
		return nil, errors.New("local: session closed")
	}
	// The shell reads the script from a pipe, where nothing cuts it at a
	// NUL: dash drops the byte and runs the rest, so a quoted value that
	// held one would name another file ('/srv/a<NUL>pp' is /srv/app).
	if !shell.Valid(cmd.Script) {
		return nil, errors.New("local: script holds a NUL byte")
	}
	if cmd.Run != "" && !deploy.ValidRunToken(cmd.Run) {
		return nil, fmt.Errorf("local: invalid run token %q", cmd.Run)
	}
	var cancel context.CancelFunc
	if cmd.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, cmd.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	if err := ctx.Err(); err != nil {
		return nil, stopped(ctx, cmd.Timeout)
	}
	// A failed read of cmd.Stdin ends the run through ctx, so that the
	// process group is killed by exec, which does so only until it has
	// reaped the shell: the Read may fail after Run returned, when the
	// group holds only what the script left running in the background,
	// or its number is another's.
	ctx, stdinFailed := context.WithCancelCause(ctx)
	defer stdinFailed(nil)

	var stdout scriptio.Output
	stderr := &scriptio.Tail{Max: stderrTail}
	// The script reaches the shell through a pipe, not its arguments,
	// which anyone on the machine can read (ps, /proc/PID/cmdline): a
	// pull delivery's script holds the artifact's URL, and any token in
	// it. The shell sources it from the pipe, its descriptor 3.
	script, feed, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("local: script pipe: %w", err)
	}
	c := exec.CommandContext(ctx, "/bin/sh", "-c", scriptFromFD3, "/bin/sh", stepShellArg)
	c.ExtraFiles = []*os.File{script}
	c.Env = s.env
	if cmd.Run != "" {
		// In the shell's own environment, where a later run finds it
		// and everything the script starts (see deploy.Command.Run).
		c.Env = append(slices.Clip(s.env), "SWITCHMAN_RUN="+cmd.Run)
	}
	// The output comes through pipes of our own rather than exec's, so
	// that Run can tell that a background process still holds them
	// whatever the script's exit status: exec reports its WaitDelay
	// overrun (ErrWaitDelay) only for a script that succeeded, and a
	// failed restart that left the app holding its output is the one an
	// operator most needs told.
	outR, outW, err := os.Pipe()
	if err != nil {
		script.Close()
		feed.Close()
		return nil, fmt.Errorf("local: stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		script.Close()
		feed.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("local: stderr pipe: %w", err)
	}
	c.Stdout, c.Stderr = outW, errW
	var stdoutTo io.Writer = &stdout
	if cmd.Stdout != nil {
		stdoutTo = io.MultiWriter(&stdout, cmd.Stdout)
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.WaitDelay = waitDelay
	c.Cancel = func() error { return killGroup(c.Process.Pid) }

	var stdin *os.File
	if cmd.Stdin != nil {
		// Stdin is fed by our own goroutine rather than by exec's, so that
		// a reader that blocks after the script exited cannot hold up Wait.
		r, w, err := os.Pipe()
		if err != nil {
			script.Close()
			feed.Close()
			outR.Close()
			outW.Close()
			errR.Close()
			errW.Close()
			return nil, fmt.Errorf("local: stdin pipe: %w", err)
		}
		c.Stdin, stdin = r, w
	}
	startErr := c.Start()
	script.Close() // the child has its own copy
	// The child has its own copies of the write ends. Ours must go, or
	// the copies below would never see the end of the output.
	outW.Close()
	errW.Close()
	if startErr != nil {
		feed.Close()
		outR.Close()
		errR.Close()
	} else {
		// In the background: a script longer than the pipe's buffer is
		// read as the shell runs it. Closing feed ends it for the shell.
		go func() {
			defer feed.Close()
			// Closing descriptor 3 first, on the script's first line so
			// that its line numbers stay, keeps the programs it starts
			// from holding the pipe (the shell reads the script through
			// a descriptor of its own).
			_, _ = io.WriteString(feed, "exec 3<&-; "+cmd.Script) // fails only once the shell is gone
		}()
	}
	if stdin != nil {
		// The child has its own copy of the read end. Ours must go, or
		// writes would block instead of failing once the script exits.
		c.Stdin.(*os.File).Close()
		if startErr != nil {
			stdin.Close()
		}
	}
	if startErr != nil {
		return nil, fmt.Errorf("local: start /bin/sh: %w", startErr)
	}

	copied := make(chan struct{}, 2)
	copyOutput := func(to io.Writer, from *os.File) {
		_, _ = io.Copy(to, from) // ends at the output's end, or when from is closed below
		from.Close()             // a failed write to cmd.Stdout stops the script's writes too
		copied <- struct{}{}
	}
	go copyOutput(stdoutTo, outR)
	go copyOutput(stderr, errR)

	if stdin != nil {
		go func() {
			defer stdin.Close()
			if err := scriptio.Feed(stdin, cmd.Stdin); err != nil {
				stdinFailed(stdinError{err})
			}
		}()
	}

	err = c.Wait()
	// Ended by ctx (a timeout, a cancel, a failed read of cmd.Stdin)
	// rather than on its own: what the kill missed is no step's doing.
	killed := ctx.Err() != nil
	if stdin != nil {
		// Unblocks a copy stuck writing to a script that stopped reading.
		stdin.Close()
	}
	held := waitOutput(copied, outR, errR)
	out := stdout.Bytes()

	var se stdinError
	if errors.As(context.Cause(ctx), &se) {
		return out, fmt.Errorf("local: read stdin: %w", se.err)
	}
	if held && !killed && cmd.Lingering != nil {
		cmd.Lingering("")
	}
	if err == nil {
		return out, nil
	}
	if ctx.Err() != nil {
		return out, stopped(ctx, cmd.Timeout)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return out, &deploy.ExitError{Code: exitCode(exitErr.ProcessState), Stderr: stderr.String()}
	}
	return out, fmt.Errorf("local: run script: %w", err)
}

// waitOutput waits, for at most waitDelay, for both copies of the
// script's output to reach its end, then closes what is still open, so
// that a background process holding it cannot hold up Run, and waits for
// the copies to stop. It reports whether it had to close any: a process
// the script started still held its output.
func waitOutput(copied <-chan struct{}, outR, errR *os.File) (held bool) {
	timer := time.NewTimer(waitDelay)
	defer timer.Stop()
	for n := 0; n < 2; {
		select {
		case <-copied:
			n++
		case <-timer.C:
			held = true
			outR.Close()
			errR.Close()
			for ; n < 2; n++ {
				<-copied
			}
		}
	}
	return held
}

// Close ends the session. There is nothing to release locally; Run fails
// after Close.
func (s *session) Close() error {
	s.closed = true
	return nil
}

// stdinError is the cause of a run ended by a failed read of its stdin.
type stdinError struct{ err error }

func (e stdinError) Error() string { return e.err.Error() }

// killGroup kills the process group led by pid.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// stopped is the error for a run ended by its context.
func stopped(ctx context.Context, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if timeout > 0 {
			return fmt.Errorf("step timed out (limit %s): %w", timeout, context.DeadlineExceeded)
		}
		return fmt.Errorf("step timed out: %w", context.DeadlineExceeded)
	}
	return fmt.Errorf("step canceled: %w", ctx.Err())
}

// exitCode is the script's exit status, or 128+n for death by signal n as
// shells report it.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
