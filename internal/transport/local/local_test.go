package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/scriptio"
	"github.com/switchman-bot/switchman/internal/shell"
)

func open(t *testing.T, tr *Transport) deploy.Session {
	t.Helper()
	s, err := tr.Open(context.Background(), deploy.Host{Name: "localhost"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// alive reports whether pid is a live process (a zombie is not).
func alive(t *testing.T, pid int) bool {
	t.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatalf("read /proc/%d/stat: %v", pid, err)
	}
	// The state follows the parenthesised command name.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return !bytes.HasPrefix(bytes.TrimSpace(rest), []byte("Z"))
}

// killLater kills pid when the test ends.
func killLater(t *testing.T, pid int) {
	t.Helper()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parsePID(t *testing.T, out []byte) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("script printed %q, want a pid", out)
	}
	return pid
}

func requireBinary(t *testing.T, name, install string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found; install it with: %s", name, install)
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		script  string
		stdin   io.Reader
		wantOut string
		// wantCode is the exit code of an *deploy.ExitError; 0 wants success.
		wantCode   int
		wantStderr string
	}{
		{name: "stdout", script: "echo hello; printf 'a b'", wantOut: "hello\na b"},
		{name: "stderr dropped on success", script: "echo warn >&2; echo ok", wantOut: "ok\n"},
		{name: "exit code and stderr", script: "echo partial; echo 'oops: bad' >&2; exit 3", wantOut: "partial\n", wantCode: 3, wantStderr: "oops: bad"},
		{name: "killed by signal", script: "kill -9 $$", wantCode: 128 + 9},
		{name: "stdin", script: "cat", stdin: strings.NewReader("line 1\nline 2"), wantOut: "line 1\nline 2"},
		{name: "large stdin", script: "wc -c | tr -d ' '", stdin: bytes.NewReader(make([]byte, 3<<20)), wantOut: "3145728\n"},
		{name: "stdin not read", script: "echo early", stdin: bytes.NewReader(make([]byte, 8<<20)), wantOut: "early\n"},
		{name: "no stdin is empty", script: "cat; echo end", wantOut: "end\n"},
		{name: "extra env", env: []string{"SWITCHMAN_TEST=a b", "SWITCHMAN_TEST=c d"}, script: `printf %s "$SWITCHMAN_TEST"`, wantOut: "c d"},
		// printf's octal escapes: the script itself holds no mark.
		{name: "suggestion marks taken out", script: `printf 'run \356\200\200rollback web prod\356\200\201\n'; printf 'do \356\200\200rollback web prod\356\200\201' >&2; exit 3`,
			wantOut: "run rollback web prod\n", wantCode: 3, wantStderr: "do rollback web prod"},
		{name: "quoted hostile argument", script: "printf %s " + shell.Quote("$(id) `id` ';'"), wantOut: "$(id) `id` ';'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, &Transport{Env: tt.env})
			out, err := s.Run(context.Background(), deploy.Command{Script: tt.script, Stdin: tt.stdin, Timeout: 10 * time.Second})
			if string(out) != tt.wantOut {
				t.Errorf("stdout = %q, want %q", out, tt.wantOut)
			}
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			var exitErr *deploy.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("got error %v, want *deploy.ExitError", err)
			}
			if exitErr.Code != tt.wantCode || exitErr.Stderr != tt.wantStderr {
				t.Errorf("got ExitError{%d, %q}, want {%d, %q}", exitErr.Code, exitErr.Stderr, tt.wantCode, tt.wantStderr)
			}
		})
	}
}

// TestRunEnvironment: a script gets the few variables of the bot's
// environment that programs need, and none of its secrets, which the app a
// restart starts would otherwise keep.
func TestRunEnvironment(t *testing.T) {
	bot := map[string]string{
		"SLACK_BOT_TOKEN":    "xoxb-secret",
		"REDIS_URL":          "redis://:secret@127.0.0.1:6379",
		"SSH_AUTH_SOCK":      "/run/agent.sock",
		"SSH_KEY_PASSPHRASE": "correct horse",
		"HOME":               "/home/bot",
		"LANG":               "C.UTF-8",
		"LC_TIME":            "en_GB.UTF-8",
		"TZ":                 "Europe/Paris",
		"TMPDIR":             "/var/tmp",
		"https_proxy":        "http://proxy.internal:3128",
		"SSL_CERT_FILE":      "/etc/ssl/corp.pem",
	}
	for k, v := range bot {
		t.Setenv(k, v)
	}
	s := open(t, &Transport{Env: []string{"TZ=UTC", "SWITCHMAN_APP=shop"}})
	out, err := s.Run(context.Background(), deploy.Command{Script: "env"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	tests := []struct {
		name string
		want string // "": absent
	}{
		{"SLACK_BOT_TOKEN", ""},
		{"REDIS_URL", ""},
		{"SSH_AUTH_SOCK", ""},
		{"SSH_KEY_PASSPHRASE", ""},
		{"PATH", os.Getenv("PATH")},
		{"HOME", "/home/bot"},
		{"LANG", "C.UTF-8"},
		{"LC_TIME", "en_GB.UTF-8"},
		{"TMPDIR", "/var/tmp"},
		{"https_proxy", "http://proxy.internal:3128"},
		{"SSL_CERT_FILE", "/etc/ssl/corp.pem"},
		{"TZ", "UTC"}, // the transport's own win
		{"SWITCHMAN_APP", "shop"},
	}
	for _, tt := range tests {
		v, ok := got[tt.name]
		switch {
		case tt.want == "" && ok:
			t.Errorf("the script sees %s=%s of the bot's environment", tt.name, v)
		case tt.want != "" && v != tt.want:
			t.Errorf("%s: got %q, want %q", tt.name, v, tt.want)
		}
	}
}

func TestRunKeepsStderrTail(t *testing.T) {
	s := open(t, &Transport{})
	script := `i=0; while [ $i -lt 1000 ]; do printf 'noise-%04d\n' $i >&2; i=$((i+1)); done; echo 'the real error' >&2; exit 1`
	_, err := s.Run(context.Background(), deploy.Command{Script: script})
	var exitErr *deploy.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("got error %v, want *deploy.ExitError", err)
	}
	if n := len(exitErr.Stderr); n > stderrTail || n < stderrTail-100 {
		t.Errorf("got %d bytes of stderr, want about %d", n, stderrTail)
	}
	if !strings.HasSuffix(exitErr.Stderr, "noise-0999\nthe real error") {
		t.Errorf("stderr ends %q, want the last lines", exitErr.Stderr[len(exitErr.Stderr)-40:])
	}
}

// countingWriter counts what is written to it.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// TestRunKeepsStdoutTail: of a script that prints without end, the bot
// keeps the end of its output, saying how much it dropped; a live writer
// gets all of it.
func TestRunKeepsStdoutTail(t *testing.T) {
	s := open(t, &Transport{})
	const flood = 3 * scriptio.MaxOutput
	var live countingWriter
	out, err := s.Run(context.Background(), deploy.Command{
		Script: "head -c " + strconv.Itoa(flood) + " /dev/zero | tr '\\0' x; echo; echo the verdict",
		Stdout: &live,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := "[output truncated: the first " + strconv.Itoa(flood+1) + " bytes were dropped]\nthe verdict\n"; string(out) != want {
		t.Errorf("got %d bytes starting %.80q, want %q", len(out), out, want)
	}
	if want := flood + len("\nthe verdict\n"); live.n != want {
		t.Errorf("live writer got %d bytes, want %d", live.n, want)
	}
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	s := open(t, &Transport{})
	// A Run the timeout did not end would end with the script, a minute
	// later and without an error: the error alone shows the timeout.
	out, err := s.Run(context.Background(), deploy.Command{
		Script:  "sleep 60 & echo $!; wait; echo never",
		Timeout: 300 * time.Millisecond,
	})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("got error %v, want a timeout wrapping context.DeadlineExceeded", err)
	}
	pid := parsePID(t, out)
	killLater(t, pid)
	// Well short of the sleep's minute: a sleep left running outlasts it.
	waitFor(t, "background sleep killed", 30*time.Second, func() bool { return !alive(t, pid) })
}

func TestRunContextCancel(t *testing.T) {
	s := open(t, &Transport{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	// A Run the cancel did not end would end with the sleep, without an
	// error: the error alone shows the cancel.
	_, err := s.Run(ctx, deploy.Command{Script: "sleep 60"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want one wrapping context.Canceled", err)
	}
}

func TestRunParentDeadline(t *testing.T) {
	s := open(t, &Transport{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := s.Run(ctx, deploy.Command{Script: "sleep 60"})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("got error %v, want a timeout wrapping context.DeadlineExceeded", err)
	}
}

func TestRunLeavesDaemonRunning(t *testing.T) {
	requireBinary(t, "setsid", "apt-get install util-linux")
	s := open(t, &Transport{})
	pidFile := filepath.Join(t.TempDir(), "app.pid")
	// What a restart script does: detach the app, then exit.
	script := "setsid sh -c 'echo $$ >\"$1\"; exec sleep 30' sh " + shell.Quote(pidFile) + " >/dev/null 2>&1 </dev/null &\necho started"
	out, err := s.Run(context.Background(), deploy.Command{Script: script, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if string(out) != "started\n" {
		t.Errorf("stdout = %q, want %q", out, "started\n")
	}
	var pid int
	waitFor(t, "daemon writes its pid", 30*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false
		}
		pid = parsePID(t, b)
		return true
	})
	killLater(t, pid)
	if !alive(t, pid) {
		t.Fatalf("daemon %d died with Run; want it running", pid)
	}
}

func TestRunReturnsWhileChildHoldsOutput(t *testing.T) {
	s := open(t, &Transport{})
	// The background sleep inherits stdout and stderr and keeps them
	// open, past the step's timeout: a Run that waited for them would
	// time out.
	out, err := s.Run(context.Background(), deploy.Command{Script: "sleep 30 & echo $!", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	pid := parsePID(t, out)
	killLater(t, pid)
	if !alive(t, pid) {
		t.Errorf("background process %d was killed; want it left running", pid)
	}
}

// TestRunReportsLingering: a script that leaves a background process
// holding its output gets it reported through Command.Lingering, whether
// it succeeded or failed, and keeps its own exit status; one whose
// background process redirected its output gets no report.
func TestRunReportsLingering(t *testing.T) {
	tests := []struct {
		name, script string
		code         int    // the script's exit status
		stderr       string // of a failed one
		want         bool   // a report
	}{
		{"succeeded, output held", "sleep 30 & echo $!", 0, "", true},
		{"failed, output held", "sleep 30 & echo $!; echo broken >&2; exit 3", 3, "broken", true},
		{"failed, stderr held", "sleep 30 >/dev/null & echo $!; exit 3", 3, "", true},
		{"failed, output redirected", "sleep 30 >/dev/null 2>&1 & echo $!; exit 3", 3, "", false},
		{"succeeded, output redirected", "sleep 30 >/dev/null 2>&1 & echo $!", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, &Transport{})
			var got []string
			out, err := s.Run(context.Background(), deploy.Command{Script: tt.script, Timeout: 20 * time.Second,
				Lingering: func(who string) { got = append(got, who) }})
			killLater(t, parsePID(t, out))
			var exit *deploy.ExitError
			switch {
			case tt.code == 0 && err != nil:
				t.Errorf("Run: %v, want success", err)
			case tt.code != 0 && (!errors.As(err, &exit) || exit.Code != tt.code || exit.Stderr != tt.stderr):
				t.Errorf("Run: %v, want exit status %d with stderr %q", err, tt.code, tt.stderr)
			}
			if n := map[bool]int{false: 0, true: 1}[tt.want]; len(got) != n {
				t.Errorf("Lingering called %d times (%q), want %d", len(got), got, n)
			}
		})
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestRunStdinReadErrorKillsScript(t *testing.T) {
	s := open(t, &Transport{})
	broken := errors.New("connection reset")
	out, err := s.Run(context.Background(), deploy.Command{
		Script: "cat >/dev/null; echo finished",
		Stdin:  &failingReader{data: []byte("half a tarball"), err: broken},
	})
	if !errors.Is(err, broken) {
		t.Fatalf("got error %v, want one wrapping %v", err, broken)
	}
	if strings.Contains(string(out), "finished") {
		t.Errorf("script ran to the end on a broken stdin: stdout %q", out)
	}
}

func TestRunDoesNotWaitForBlockedStdin(t *testing.T) {
	s := open(t, &Transport{})
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	// Nobody writes or closes stdin: a Run that waited for it would
	// reach its timeout and fail.
	out, err := s.Run(context.Background(), deploy.Command{Script: "echo done", Stdin: pr, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if string(out) != "done\n" {
		t.Errorf("stdout = %q, want %q", out, "done\n")
	}
}

func TestOpenAndClose(t *testing.T) {
	tr := &Transport{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Open(ctx, deploy.Host{Name: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a canceled context: got %v, want context.Canceled", err)
	}
	s, err := tr.Open(context.Background(), deploy.Host{Name: "any-name"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Run(context.Background(), deploy.Command{Script: "true"}); err == nil {
		t.Error("Run after Close succeeded, want an error")
	}
}

// TestRunKeepsScriptOutOfArguments: the script is not in any process's
// arguments, which anyone on the machine can read, while it runs (a pull
// delivery's holds the artifact's URL and its token); nor do the programs
// it starts hold the pipe it came through. Its exit status and $0 are as
// with sh -c.
func TestRunKeepsScriptOutOfArguments(t *testing.T) {
	const secret = "s3cr3t-token-in-url"
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	script := "url=https://ci:" + secret + "@example.invalid/app.tgz\n" +
		"sleep 30 </dev/null >/dev/null 2>&1 & echo $! > " + filepath.Join(dir, "child") + "\n" +
		"touch " + ready + "; sleep 1\n" +
		"echo \"$0\"; exit 3"
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		defer close(done)
		s, _ := (&Transport{}).Open(context.Background(), deploy.Host{Name: "localhost"})
		out, err = s.Run(context.Background(), deploy.Command{Script: script, Timeout: 20 * time.Second})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for _, e := os.Stat(ready); e != nil; _, e = os.Stat(ready) {
		if time.Now().After(deadline) {
			t.Fatal("the script did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, e := os.ReadFile(p); e == nil && strings.Contains(string(b), secret) {
			t.Errorf("%s holds the script: %q", p, b)
		}
	}
	<-done
	var exit *deploy.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 || string(out) != "/bin/sh\n" {
		t.Errorf("got %q, %v; want $0 /bin/sh and exit status 3", out, err)
	}
	child, _ := os.ReadFile(filepath.Join(dir, "child"))
	pid := strings.TrimSpace(string(child))
	if fds, e := os.ReadDir("/proc/" + pid + "/fd"); e == nil {
		for _, fd := range fds {
			if fd.Name() == "3" {
				t.Errorf("the script's background child %s holds descriptor 3", pid)
			}
		}
		syscall.Kill(atoi(t, pid), syscall.SIGKILL)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRunToken: the shell of a step of a run carries the run's token as
// SWITCHMAN_RUN, and so do the programs it starts; a step of no run
// carries none; a token not of the form the engine makes is refused
// before anything runs.
func TestRunToken(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	const script = `env | grep '^SWITCHMAN_RUN=' || echo none; tr '\0' '\n' </proc/$$/environ | grep '^SWITCHMAN_RUN=' || echo none`
	tests := []struct {
		name string
		run  string
		want string
	}{
		{name: "a run's step", run: token, want: "SWITCHMAN_RUN=" + token + "\nSWITCHMAN_RUN=" + token + "\n"},
		{name: "no run", want: "none\nnone\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, &Transport{})
			out, err := s.Run(context.Background(), deploy.Command{Script: script, Run: tt.run, Timeout: 10 * time.Second})
			if err != nil || string(out) != tt.want {
				t.Errorf("got %q, %v; want %q", out, err, tt.want)
			}
		})
	}
	ran := filepath.Join(t.TempDir(), "ran")
	s := open(t, &Transport{})
	for _, bad := range []string{"x", token[:31], strings.ToUpper(token)} {
		_, err := s.Run(context.Background(), deploy.Command{Script: "touch " + ran, Run: bad})
		if err == nil || !strings.Contains(err.Error(), "invalid run token") {
			t.Errorf("run token %q: got %v, want it refused", bad, err)
		}
	}
	if _, err := os.Stat(ran); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a step with an invalid run token ran: %v", err)
	}
}

// TestRunRefusesNUL: a script holding a NUL byte is refused, not run. The
// shell reads the script from a pipe and dash drops the byte: the quoted
// path of a directory named with one would name another, which the
// script would remove.
func TestRunRefusesNUL(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "ab")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	s := open(t, &Transport{})
	out, err := s.Run(context.Background(), deploy.Command{Script: "rm -rf " + shell.Quote(filepath.Join(dir, "a\x00b")) + "; echo ran", Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("got output %q and error %v, want an error naming the NUL byte", out, err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("%s: %v, want it left alone", other, err)
	}
}

// TestRunEnvironmentWithoutInheritedVariables: a bot started with none of
// the variables scripts inherit (env -i, a unit that sets only its
// secrets) must not hand its whole environment to the script.
func TestRunEnvironmentWithoutInheritedVariables(t *testing.T) {
	saved := os.Environ()
	t.Cleanup(func() {
		os.Clearenv()
		for _, kv := range saved {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
	})
	tests := []struct {
		name  string
		extra []string
		run   string
		want  []string // exported variables, sorted, other than PWD and the like the shell sets
	}{
		{name: "no extra, no run", want: nil},
		{name: "extra only", extra: []string{"SWITCHMAN_APP=shop"}, want: []string{"SWITCHMAN_APP"}},
		{name: "run only", run: strings.Repeat("ab", 16), want: []string{"SWITCHMAN_RUN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Clearenv()
			os.Setenv("SLACK_BOT_TOKEN", "xoxb-secret")
			s := open(t, &Transport{Env: tt.extra})
			out, err := s.Run(context.Background(), deploy.Command{Script: "export -p", Run: tt.run})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			var got []string
			for _, line := range strings.Split(string(out), "\n") {
				line = strings.TrimPrefix(line, "export ")
				k, _, _ := strings.Cut(line, "=")
				switch k {
				case "", "PWD", "OLDPWD", "PS1", "PS2", "PS4", "IFS", "OPTIND", "PPID", "SHLVL", "_":
					continue
				}
				got = append(got, k)
			}
			if strings.Contains(string(out), "xoxb-secret") || !slices.Equal(got, tt.want) {
				t.Errorf("the script's environment: got %v, want %v (output %q)", got, tt.want, out)
			}
		})
	}
}

// TestRunStdinErrorKillsOnlyARunningScript: a failed read of stdin kills
// the script's process group while the script runs; once Run has
// returned, a Read that fails later (the caller closing the pipe it
// reads, as Run's contract asks) must not kill what the script left
// running in the background, nor whatever group has the number since.
func TestRunStdinErrorKillsOnlyARunningScript(t *testing.T) {
	broken := errors.New("connection reset")
	tests := []struct {
		name      string
		script    string
		failAfter bool // fail the Read only after Run returned
		wantErr   bool
		wantAlive bool
	}{
		{name: "while the script runs", script: "cat >/dev/null; echo finished", wantErr: true, wantAlive: false},
		{name: "after Run returned", script: "echo done", failAfter: true, wantErr: false, wantAlive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, &Transport{})
			pr, pw := io.Pipe()
			t.Cleanup(func() { pw.Close() })
			cmd := deploy.Command{Script: "sleep 600 </dev/null >/dev/null 2>&1 & echo $!; " + tt.script, Stdin: pr, Timeout: 10 * time.Second}
			if !tt.failAfter {
				// Once the background process is started, not before.
				cmd.Stdout = writerFunc(func(p []byte) (int, error) {
					go func() {
						_, _ = pw.Write([]byte("half a tarball"))
						pw.CloseWithError(broken)
					}()
					return len(p), nil
				})
			}
			out, err := s.Run(context.Background(), cmd)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Run: got error %v, want one: %v", err, tt.wantErr)
			}
			pid := parsePID(t, []byte(strings.SplitN(string(out), "\n", 2)[0]))
			killLater(t, pid)
			if tt.failAfter {
				pw.CloseWithError(broken)
			}
			if !tt.wantAlive {
				// The sleep lasts far longer than this hang guard: only the
				// kill ends it within it.
				waitFor(t, "background sleep killed", time.Minute, func() bool { return !alive(t, pid) })
				return
			}
			// Whether a kill comes can only be watched for a while.
			for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if !alive(t, pid) {
					t.Fatalf("background process %d was killed by a stdin error after Run returned; want it left running", pid)
				}
			}
		})
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
