package ssh

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
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
		{name: "one step", stream: "hello\n" + mark("0"), want: []demuxed{{0, []byte("hello\n")}}},
		{name: "no trailing newline", stream: "abc" + mark("3"), want: []demuxed{{3, []byte("abc")}}},
		{name: "empty output", stream: mark("0"), want: []demuxed{{0, nil}}},
		{name: "record separators of the script's own", stream: "a\036b\036" + nonce + "x\036\n" + mark("0"),
			want: []demuxed{{0, []byte("a\036b\036" + nonce + "x\036\n")}}},
		{name: "another nonce", stream: "\036other 1\n" + mark("1"), want: []demuxed{{1, []byte("\036other 1\n")}}},
		{name: "two steps", stream: "one\n" + mark("0") + "two\n" + mark("2"),
			want: []demuxed{{0, []byte("one\n")}, {2, []byte("two\n")}}},
		{name: "tail", stream: strings.Repeat("x", 100) + "end" + mark("1"), max: 10,
			want:     []demuxed{{1, []byte(strings.Repeat("x", 7) + "end")}},
			wantLive: strings.Repeat("x", 100) + "end"},
		{name: "standard output cut short", stream: "a\n" + strings.Repeat("x", 100) + "\nend\n" + mark("1") + "two\n" + mark("0"),
			max: 10, noted: true,
			want:     []demuxed{{1, []byte("[output truncated: the first 103 bytes were dropped]\nend\n")}, {0, []byte("two\n")}},
			wantLive: "a\n" + strings.Repeat("x", 100) + "\nend\ntwo\n"},
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
					if got.status != want.status || !bytes.Equal(got.body, want.body) {
						t.Errorf("%s, cut at %d, step %d: got %d %q, want %d %q", tt.name, cut, i, got.status, got.body, want.status, want.body)
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
	// A step that kills the shell fails, saying so; the next one gets a
	// new shell.
	_, err := s.Run(context.Background(), deploy.Command{Script: "kill -9 $$"})
	if err == nil || !strings.Contains(err.Error(), "ended its shell") {
		t.Errorf("a step killing its shell: got %v, want an error saying it ended its shell", err)
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
