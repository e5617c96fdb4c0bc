package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/scriptio"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

func TestDemux(t *testing.T) {
	const nonce = "n0nce"
	mark := func(status string) string { return "\036" + nonce + " " + status + "\n" }
	tests := []struct {
		name   string
		stream string
		// max bounds each body; noted is standard output's demux.
		max   int
		noted bool
		want  []demuxed // one per step, in order
		// wantLive is what the live writer gets; default: the bodies.
		wantLive string
	}{
		{name: "one step", stream: "hello\n" + mark("0"), want: []demuxed{{status: 0, body: []byte("hello\n")}}},
		{name: "no trailing newline", stream: "abc" + mark("3"), want: []demuxed{{status: 3, body: []byte("abc")}}},
		{name: "empty output", stream: mark("0"), want: []demuxed{{status: 0, body: nil}}},
		{name: "record separators of the script's own", stream: "a\036b\036" + nonce + "x\036\n" + mark("0"),
			want: []demuxed{{status: 0, body: []byte("a\036b\036" + nonce + "x\036\n")}}},
		{name: "another nonce", stream: "\036other 1\n" + mark("1"), want: []demuxed{{status: 1, body: []byte("\036other 1\n")}}},
		{name: "two steps", stream: "one\n" + mark("0") + "two\n" + mark("2"),
			want: []demuxed{{status: 0, body: []byte("one\n")}, {status: 2, body: []byte("two\n")}}},
		{name: "tail", stream: strings.Repeat("x", 100) + "end" + mark("1"), max: 10,
			want:     []demuxed{{status: 1, body: []byte(strings.Repeat("x", 7) + "end")}},
			wantLive: strings.Repeat("x", 100) + "end"},
		{name: "standard output cut short", stream: "a\n" + strings.Repeat("x", 100) + "\nend\n" + mark("1") + "two\n" + mark("0"),
			max: 10, noted: true,
			want:     []demuxed{{status: 1, body: []byte("[output truncated: the first 103 bytes were dropped]\nend\n")}, {status: 0, body: []byte("two\n")}},
			wantLive: "a\n" + strings.Repeat("x", 100) + "\nend\ntwo\n"},
		{name: "processes holding the output", stream: "x\n" + mark("0 12(app) 345(?)"),
			want: []demuxed{{status: 0, body: []byte("x\n"), lingering: []string{"12(app)", "345(?)"}}}},
	}
	for _, tt := range tests {
		// Every way of cutting the stream in two writes.
		for cut := 0; cut <= len(tt.stream); cut++ {
			limit := tt.max
			if limit == 0 {
				limit = 1 << 20
			}
			d := newDemux(limit, tt.noted)
			var live bytes.Buffer
			var chans []<-chan demuxed
			for range tt.want {
				chans = append(chans, d.next(nonce, &live))
			}
			d.Write([]byte(tt.stream[:cut]))
			d.Write([]byte(tt.stream[cut:]))
			var wantLive strings.Builder
			for i, want := range tt.want {
				select {
				case got := <-chans[i]:
					if got.status != want.status || !bytes.Equal(got.body, want.body) || !slices.Equal(got.lingering, want.lingering) {
						t.Errorf("%s, cut at %d, step %d: got %d %q %q, want %d %q %q", tt.name, cut, i, got.status, got.body, got.lingering, want.status, want.body, want.lingering)
					}
				default:
					t.Errorf("%s, cut at %d, step %d: not ended", tt.name, cut, i)
				}
				wantLive.Write(want.body)
			}
			if tt.wantLive != "" {
				wantLive.Reset()
				wantLive.WriteString(tt.wantLive)
			}
			if live.String() != wantLive.String() {
				t.Errorf("%s, cut at %d: live writer got %q, want %q", tt.name, cut, live.String(), wantLive.String())
			}
		}
	}
}

// TestDemuxPerStepNonce: each step ends at its own nonce only; a marker
// with the nonce of a step that has ended is the next step's output.
func TestDemuxPerStepNonce(t *testing.T) {
	d := newDemux(1<<20, true)
	first, second := d.next("aaa", nil), d.next("bbb", nil)
	d.Write([]byte("one\n\036aaa 0\n\036aaa 0\ntwo\n\036bbb 7\n"))
	if got := <-first; got.status != 0 || string(got.body) != "one\n" {
		t.Errorf("first step: %d %q", got.status, got.body)
	}
	if got := <-second; got.status != 7 || string(got.body) != "\036aaa 0\ntwo\n" {
		t.Errorf("second step: %d %q, want 7 and the first's stray marker as output", got.status, got.body)
	}
}

// TestStepWait: a step whose two markers both came has ended with the
// status they give, even when the shell ends or ctx is done as the step
// does; and a wait that gave up with one marker taken is taken up again
// for the other, as killStep does, rather than wait for the first anew.
func TestStepWait(t *testing.T) {
	t.Parallel()
	newShell := func() (*stepShell, *pending) {
		sh := &stepShell{ended: make(chan struct{}), out: newDemux(scriptio.MaxOutput, true), errs: newDemux(stderrTail, false)}
		return sh, sh.expect("n1", nil)
	}
	outMarker, errMarker := []byte("out\n\036n1 3\n"), []byte("err\n\036n1 3\n")
	tests := []struct {
		name string
		end  func(sh *stepShell, cancel context.CancelFunc)
	}{
		{"shell ended after reporting", func(sh *stepShell, _ context.CancelFunc) { close(sh.ended) }},
		{"ctx done as the step ended", func(_ *stepShell, cancel context.CancelFunc) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The channels become ready together: the wait must not
			// leave it to chance which it takes.
			for range 50 {
				sh, p := newShell()
				sh.out.Write(outMarker)
				sh.errs.Write(errMarker)
				ctx, cancel := context.WithCancel(context.Background())
				tt.end(sh, cancel)
				res, err := sh.wait(ctx, p)
				cancel()
				if err != nil || res.status != 3 || string(res.stdout) != "out\n" || res.stderr != "err\n" {
					t.Fatalf("got %+v, %v; want status 3, out and err", res, err)
				}
			}
		})
	}
	t.Run("taken up again", func(t *testing.T) {
		// The first wait takes the stdout marker, the only one ready,
		// and times out waiting for the other.
		sh, p := newShell()
		sh.out.Write(outMarker)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := sh.wait(ctx, p); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("without the stderr marker: got %v, want context.DeadlineExceeded", err)
		}
		sh.errs.Write(errMarker)
		ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := sh.wait(ctx, p)
		if err != nil || res.status != 3 || string(res.stdout) != "out\n" || res.stderr != "err\n" {
			t.Fatalf("got %+v, %v; want status 3, out and err", res, err)
		}
	})
}

// TestStepShell: steps without standard input share one SSH session and
// its shell, each in a subshell that keeps its changes to itself; a step
// with standard input has its own session.
func TestStepShell(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	s := open(t, transport(t, f, nil), f, 0)
	pids := map[string]bool{}
	for range 10 {
		pids[run(t, s, "echo $$")] = true
	}
	if len(pids) != 1 {
		t.Errorf("10 steps ran in %d shells, want 1", len(pids))
	}
	for _, script := range []string{"exit 0", "set -e", "exec true", "trap 'echo trapped' EXIT"} {
		run(t, s, script)
	}
	if got := run(t, s, "false; echo after"); got != "after\n" {
		t.Errorf("after exit, set -e, exec and a trap in earlier steps: got %q, want after", got)
	}
	if got := run(t, s, `echo "${n-unset} ${s-unset} ${rc-unset} $# ${1-none}"`); got != "unset unset unset 0 none\n" {
		t.Errorf("a step sees the shell's variables or arguments: %q", got)
	}
	if got := run(t, s, "printf abc"); got != "abc" {
		t.Errorf("output without a newline: got %q, want abc", got)
	}
	big := run(t, s, "head -c 3000000 /dev/zero | tr '\\0' x; echo")
	if len(big) != 3_000_001 || strings.Trim(big, "x\n") != "" {
		t.Errorf("3 MB of output: got %d bytes", len(big))
	}
	if got := run(t, s, "cd /tmp; export X=1; echo $X"); got != "1\n" {
		t.Fatalf("got %q", got)
	}
	if got := run(t, s, `echo "$PWD ${X-unset}"`); got == "/tmp 1\n" {
		t.Errorf("a step's cd and export leaked into the next one: %q", got)
	}
	if n := strings.Count(f.Log(0), "Starting session"); n != 1 {
		t.Errorf("sshd started %d sessions for steps without input, want 1", n)
	}
	// A step that kills the shell fails, saying so, with the status and
	// standard error a script killed in a session of its own has; the
	// next one gets a new shell.
	_, err := s.Run(context.Background(), deploy.Command{Script: "echo 'lock held by pid 42' >&2; kill -9 $$"})
	var exit *deploy.ExitError
	if err == nil || !strings.Contains(err.Error(), "ended its shell") || !errors.As(err, &exit) ||
		exit.Code != 128+9 || exit.Stderr != "lock held by pid 42" {
		t.Errorf("a step killing its shell: got %v, want an error saying it ended its shell, with an ExitError of status 137 and its stderr", err)
	}
	if got := run(t, s, "echo again"); got != "again\n" {
		t.Errorf("after the shell was killed: got %q", got)
	}
	// A shell killed between steps is replaced for the next step, which
	// does not find the host unreachable.
	run(t, s, "(sleep 0.2; kill -9 $$) >/dev/null 2>&1 </dev/null &")
	time.Sleep(time.Second)
	if got := run(t, s, "echo replaced"); got != "replaced\n" {
		t.Errorf("after the shell died between steps: got %q", got)
	}
	out, err := s.Run(context.Background(), deploy.Command{Script: "cat", Stdin: strings.NewReader("in")})
	if err != nil || string(out) != "in" {
		t.Fatalf("step with stdin: got %q, %v", out, err)
	}
	if n := strings.Count(f.Log(0), "Starting session"); n != 4 {
		t.Errorf("sshd started %d sessions, want 4 (three shells, the step with input)", n)
	}
}

// TestStepCannotEndTheNextStep: a step that looks for the shell's nonce
// in its arguments, as anyone on the host may read them, and prints
// markers of its own ends with its own status all the same, and the next
// step gets its own output and status.
func TestStepCannotEndTheNextStep(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	s := open(t, transport(t, f, nil), f, 0)
	run(t, s, "true")
	forge := `n=$(tr '\0' '\n' </proc/$$/cmdline | grep -o '[0-9a-f]\{32\}' | head -n1)
printf '\036%s 0\n' "$n"; printf '\036%s 0\n' "$n" >&2
echo "step 1 output"; exit 3`
	out, err := s.Run(context.Background(), deploy.Command{Script: forge})
	var exit *deploy.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Errorf("a step exiting 3 after forged markers: got %q, %v; want exit status 3", out, err)
	}
	out, err = s.Run(context.Background(), deploy.Command{Script: "echo step2; exit 7"})
	if !errors.As(err, &exit) || exit.Code != 7 || string(out) != "step2\n" {
		t.Errorf("the next step: got %q, %v; want step2 and exit status 7", out, err)
	}
}

// TestLingeringOutput: a step run with Command.Lingering names the
// processes holding the shell's output once it has ended: its own, left
// directly or through a script that has exited, and earlier steps'. One
// that redirected its output is not named. The step after them gets its
// own output.
func TestLingeringOutput(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	s := open(t, transport(t, f, nil), f, 0)
	// Each sleep gets a name of its own; each step waits until its sleep
	// runs under that name, so that the report names it, not the shell
	// forked to start it.
	run(t, s, "mkdir -p bin && for n in appout apperr applate quiet; do ln -sf \"$(command -v sleep)\" bin/$n; done")
	t.Cleanup(func() { run(t, s, "pkill -x appout; pkill -x apperr; pkill -x applate; pkill -x quiet; true") })
	const started = "i=0; until [ \"$(cat /proc/$!/comm)\" = %s ] || [ $i = 500 ]; do i=$((i+1)); sleep 0.01; done"
	tests := []struct {
		name, script string
		code         int      // the step's exit status
		want         []string // named in the report; nil: no call
	}{
		{"redirected", "nohup bin/quiet 30 >/dev/null 2>&1 </dev/null &\n" + fmt.Sprintf(started, "quiet"), 0, nil},
		// The shell forked for a background command holds the output
		// until it redirects: here for as long as it counts.
		{"redirected late by the forked shell", "{ i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; exec bin/quiet 30 >/dev/null 2>&1 </dev/null; } &", 0, nil},
		{"stdout held", "nohup bin/appout 30 2>/dev/null &\n" + fmt.Sprintf(started, "appout") + "\necho started", 0, []string{"(appout)"}},
		{"stderr held, by a script that has exited", "sh -c 'bin/apperr 30 >/dev/null &\n" + fmt.Sprintf(started, "apperr") + "'; exit 4", 4, []string{"(appout)", "(apperr)"}},
		// The app the forked shell execs holds the output: found once it
		// does, not passed over with the shell that became it.
		{"held once the forked shell execs", "{ i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; exec bin/applate 30 2>/dev/null; } &", 0, []string{"(appout)", "(apperr)", "(applate)"}},
	}
	for _, tt := range tests {
		var got []string
		out, err := s.Run(context.Background(), deploy.Command{Script: tt.script, Lingering: func(who string) { got = append(got, who) }})
		var exit *deploy.ExitError
		if (tt.code == 0 && err != nil) || (tt.code != 0 && (!errors.As(err, &exit) || exit.Code != tt.code)) {
			t.Fatalf("%s: %q, %v; want exit status %d", tt.name, out, err, tt.code)
		}
		if tt.want == nil {
			if got != nil {
				t.Errorf("%s: reported %q, want no call", tt.name, got)
			}
			continue
		}
		if len(got) != 1 || strings.Count(got[0], "pid ") != len(tt.want) || strings.Contains(got[0], "(quiet)") {
			t.Errorf("%s: reported %q, want one call naming %s", tt.name, got, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(got[0], w) {
				t.Errorf("%s: reported %q, want it to name %s", tt.name, got[0], w)
			}
		}
	}
	if out := run(t, s, "echo next; exit 0"); out != "next\n" {
		t.Errorf("the step after: got %q", out)
	}
}

// TestStepSeesNoLoopVariable: a step sees none of the shell loop's
// variables, those of the search a step asking about lingering processes
// made before it included, as a step in a session of its own, or one run
// by the local transport, sees none.
func TestStepSeesNoLoopVariable(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	s := open(t, transport(t, f, nil), f, 0)
	if _, err := s.Run(context.Background(), deploy.Command{Script: "true", Lingering: func(string) {}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"n", "k", "r", "c", "s", "l", "ok", "rc", "d", "m", "t", "w"} {
		t.Run(name, func(t *testing.T) {
			if got := run(t, s, `echo "${`+name+`-unset}"`); got != "unset\n" {
				t.Errorf("$%s: got %q, want unset", name, got)
			}
		})
	}
}

func TestDescribeLingering(t *testing.T) {
	many := make([]string, 12)
	for i := range many {
		many[i] = fmt.Sprintf("%d(app)", 100+i)
	}
	tests := []struct {
		list []string
		want string
	}{
		{[]string{"42(app)"}, "pid 42 (app)"},
		{[]string{"42(app)", "43(?)"}, "pid 42 (app), pid 43 (?)"},
		{[]string{"x(app)", "44", "45(ok)"}, "pid 45 (ok)"},
		// A host's own words, which the shell would have made "?".
		{[]string{"42(\ue000rollback\ue001)", "43(a(b)", "44()"}, "pid 42 (?), pid 43 (?), pid 44 (?)"},
		{many, "pid 100 (app), pid 101 (app), pid 102 (app), pid 103 (app), pid 104 (app), pid 105 (app), pid 106 (app), pid 107 (app), pid 108 (app), pid 109 (app), …"},
	}
	for _, tt := range tests {
		if got := describeLingering(tt.list); got != tt.want {
			t.Errorf("describeLingering(%q) = %q, want %q", tt.list, got, tt.want)
		}
	}
}

// TestRunToken: a step's programs carry its run's token as SWITCHMAN_RUN,
// in the shared shell and in a session of its own, whose shell carries it
// itself; a step of no run carries none, not even after one of a run in
// the same shell; a token not of the form the engine makes is refused
// before anything runs.
func TestRunToken(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef0123456789abcdef"
	f := sshd.StartFleet(t, 1, sshd.Options{})
	s := open(t, transport(t, f, nil), f, 0)
	const inChild = `env | grep '^SWITCHMAN_RUN=' || echo none`
	const inShell = `tr '\0' '\n' </proc/$$/environ | grep '^SWITCHMAN_RUN=' || echo none`
	tests := []struct {
		name   string
		run    string
		stdin  bool
		script string
		want   string
	}{
		{name: "shared shell", run: token, script: inChild, want: "SWITCHMAN_RUN=" + token + "\n"},
		{name: "shared shell, no run after one", script: inChild, want: "none\n"},
		{name: "own session", run: token, stdin: true, script: inChild, want: "SWITCHMAN_RUN=" + token + "\n"},
		{name: "own session's shell", run: token, stdin: true, script: inShell, want: "SWITCHMAN_RUN=" + token + "\n"},
		{name: "own session, no run", stdin: true, script: inChild, want: "none\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := deploy.Command{Script: tt.script, Run: tt.run}
			if tt.stdin {
				cmd.Stdin = strings.NewReader("")
			}
			out, err := s.Run(context.Background(), cmd)
			if err != nil || string(out) != tt.want {
				t.Errorf("got %q, %v; want %q", out, err, tt.want)
			}
		})
	}
	dir := t.TempDir()
	for _, bad := range []string{"x; touch " + dir + "/ran", token[:31], strings.ToUpper(token)} {
		_, err := s.Run(context.Background(), deploy.Command{Script: "touch " + dir + "/ran", Run: bad})
		if err == nil || !strings.Contains(err.Error(), "invalid run token") {
			t.Errorf("run token %q: got %v, want it refused", bad, err)
		}
	}
	if _, err := os.Stat(dir + "/ran"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a step with an invalid run token ran: %v", err)
	}
}

// TestShellThatCannotStart: a host whose login runs something else than
// the bot's command (a ForceCommand, a nologin shell, a startup file
// that exits) fails the step with its status and what it wrote, in the
// shell as in a session of its own, not with a bare "the shell ended"
// that leaves the operator guessing.
func TestShellThatCannotStart(t *testing.T) {
	t.Parallel()
	const why = "This account is currently not available."
	f := sshd.StartFleet(t, 1, sshd.Options{Config: []string{"ForceCommand echo '" + why + "' >&2; exit 1"}})
	tests := []struct {
		name  string
		stdin io.Reader
	}{
		{name: "in the shell"},
		{name: "in a session", stdin: strings.NewReader("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, transport(t, f, nil), f, 0)
			_, err := s.Run(context.Background(), deploy.Command{Script: "true", Stdin: tt.stdin})
			// An ExitError, as a script's: its text is the host's,
			// which the engine hides the config's secrets in.
			var exit *deploy.ExitError
			if !errors.As(err, &exit) || exit.Code != 1 || exit.Stderr != why {
				t.Errorf("got %v, want an ExitError of status 1 saying %q", err, why)
			}
		})
	}
}
