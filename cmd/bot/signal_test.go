package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// restartingConsole starts a bot console of f as its own process, with
// env added to its environment, and has it deploy 2, whose restart
// hangs (hangRestartOf2): it returns once that restart runs. The
// console's input is left open, for it to wait for more; exited gets its
// end.
func restartingConsole(t *testing.T, f *demoFixture, env ...string) (cmd *exec.Cmd, stdin io.WriteCloser, stderr *syncbuf.Buffer, exited <-chan error) {
	t.Helper()
	return consoleUntilRestart(t, f, "deploy demo 2", env...)
}

// consoleUntilRestart is restartingConsole for another command that
// switches the host: a rollback, say.
func consoleUntilRestart(t *testing.T, f *demoFixture, command string, env ...string) (cmd *exec.Cmd, stdin io.WriteCloser, stderr *syncbuf.Buffer, exited <-chan error) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-config", f.cfg, "console")
	cmd.Env = append(append(os.Environ(), "SWITCHMAN_TEST_MAIN=1"), env...)
	stdin, _ = cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr = &syncbuf.Buffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	done := make(chan error, 1)
	restarting := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "localhost: activate ✓") {
				close(restarting)
				break
			}
		}
		io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	io.WriteString(stdin, command+"\n")
	select {
	case <-restarting:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s never reached its restart; stderr:\n%s", command, stderr)
	}
	return cmd, stdin, stderr, done
}

// TestSecondSignalStopsAtOnce: the first SIGTERM lets a running deploy
// finish, and says that another signal stops the bot at once; the second
// does, and the next start shows the deploy interrupted.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	f := newDemo(t)
	if _, err := runBot(t, "deploy demo 1\n", "-config", f.cfg, "console"); err != nil {
		t.Fatal(err)
	}
	// Build 2's restart hangs until the test ends, as in TestCrashMidDeploy:
	// the drain would wait for it for as long as drainTimeout.
	cfg := hangRestartOf2(t, f)

	cmd, _, stderr, exited := restartingConsole(t, f)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	const hint = "signal again to stop now"
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(stderr.String(), hint) {
		if time.Now().After(deadline) {
			t.Fatalf("after the first SIGTERM: stderr lacks %q:\n%s", hint, stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-exited:
		t.Fatalf("the bot exited before its deploy finished: %v", err)
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("exit after the second SIGTERM: got %v, want killed by SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the bot still runs 30 s after a second SIGTERM; stderr:\n%s", stderr)
	}
	if err := os.WriteFile(f.cfg, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runBot(t, "status demo\n", "-config", f.cfg, "console")
	if err != nil {
		t.Fatal(err)
	}
	if want := "last deploy 2 (from 1) interrupted by alice"; !strings.Contains(out, want) {
		t.Errorf("status after the second SIGTERM lacks %q:\n%s", want, out)
	}
}

// TestConsoleStopWaitIsBounded: told to stop, the console waits for a
// running deploy no longer than serve does (drainTimeout, which the first
// signal announces), then exits 1, its deploy not having succeeded; the
// next start shows it interrupted. A restart that hangs would otherwise
// hold it for step_timeout, and then for the switch back. At the end of
// its input alone, nobody asked it to stop: it waits for the deploy to
// end, however long, and exits 0 once it succeeded.
func TestConsoleStopWaitIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal bool // SIGTERM, else the end of input
		code   int
		status string
	}{
		{"SIGTERM", true, 1, "last deploy 2 (from 1) interrupted by alice"},
		{"end of input", false, 0, "last deploy 2 (from 1) succeeded by alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDemo(t)
			if _, err := runBot(t, "deploy demo 1\n", "-config", f.cfg, "console"); err != nil {
				t.Fatal(err)
			}
			cfg := hangRestartOf2(t, f)

			cmd, stdin, stderr, exited := restartingConsole(t, f, "SWITCHMAN_TEST_DRAIN_TIMEOUT=1s")
			if tc.signal {
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			} else {
				stdin.Close()
				// Three times the drain timeout: still waiting.
				select {
				case err := <-exited:
					t.Fatalf("at the end of input the console gave up on a running deploy: %v; stderr:\n%s", err, stderr)
				case <-time.After(3 * time.Second):
				}
				if err := os.WriteFile(filepath.Join(f.dir, "gate"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-exited:
				var ee *exec.ExitError
				switch {
				case tc.code == 0 && err != nil, tc.code != 0 && (!errors.As(err, &ee) || ee.ExitCode() != tc.code):
					t.Errorf("exit: got %v, want exit status %d; stderr:\n%s", err, tc.code, stderr)
				}
			case <-time.After(time.Minute):
				t.Fatalf("the console still runs a minute later, with a drain timeout of 1s; stderr:\n%s", stderr)
			}
			if want := "they will show as interrupted at the next start"; strings.Contains(stderr.String(), want) != tc.signal {
				t.Errorf("stderr saying %q: got %v, want %v:\n%s", want, !tc.signal, tc.signal, stderr)
			}
			if err := os.WriteFile(f.cfg, cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runBot(t, "status demo\n", "-config", f.cfg, "console")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tc.status) {
				t.Errorf("status after the stop lacks %q:\n%s", tc.status, out)
			}
		})
	}
}

// TestDrainOnStop: the wait for running deploys is bounded only once the
// bot is told to stop (an interactive console's Ctrl-D asks for no stop,
// and a deploy cut short would be left half-done), and then it says what
// it left running.
func TestDrainOnStop(t *testing.T) {
	const bound = 20 * time.Millisecond
	for _, tc := range []struct {
		name    string
		stopped bool // told to stop before the wait
		hangs   bool // the deploys never end
		logged  bool
	}{
		{"not told to stop, deploys end late", false, false, false},
		{"told to stop, deploys end", true, false, false},
		{"told to stop, deploys hang", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.stopped {
				cancel()
			}
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			drain := func() {
				if tc.hangs || !tc.stopped {
					<-release
				}
			}
			var logged syncbuf.Buffer
			returned := make(chan struct{})
			go func() {
				defer close(returned)
				drainOnStop(ctx, drain, bound, slog.New(slog.NewTextHandler(&logged, nil)))
			}()
			if !tc.stopped {
				select {
				case <-returned:
					t.Fatal("not told to stop, it gave up on running deploys")
				case <-time.After(10 * bound):
				}
				release <- struct{}{}
			}
			select {
			case <-returned:
			case <-time.After(30 * time.Second):
				t.Fatal("still waiting 30s on")
			}
			if got := strings.Contains(logged.String(), "deploys still running at shutdown"); got != tc.logged {
				t.Errorf("log %q: said deploys still run %v, want %v", logged.String(), got, tc.logged)
			}
		})
	}
}

// TestSignalDuringStartup: a bot told to stop while it starts (here while
// it asks Slack whether it accepts the token) stops as asked: exit status
// 0, as for a signal once it runs, and no word of starting all the same or
// of a start that failed. A supervisor stopping it then would otherwise
// record a failure, and the log would say it goes on starting.
func TestSignalDuringStartup(t *testing.T) {
	asked := make(chan struct{}, 1)
	release := make(chan struct{})
	slackAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		// Never answers: the start waits here.
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slackAPI.Close)
	t.Cleanup(func() { close(release) })
	dir := t.TempDir()
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `bot:
  listen: %s
store:
  path: state.db
users:
  alice: {slack: U1}
admins: [alice]
slack:
  signing_secret: signing-secret-1
  bot_token: xoxb-test-token
  api_url: %s/api/
apps:
  web:
    artifact:
      path: builds/{app}-{build}.tar.gz
    path: web
    restart: "true"
    environments:
      staging:
        hosts: [localhost]
`, freePort(t), slackAPI.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-config", cfg, "serve")
			cmd.Env = append(os.Environ(), "SWITCHMAN_TEST_MAIN=1")
			var stderr syncbuf.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-asked:
			case err := <-exited:
				t.Fatalf("the bot exited before asking Slack: %v; stderr:\n%s", err, &stderr)
			case <-time.After(30 * time.Second):
				t.Fatalf("the bot never asked Slack for its token; stderr:\n%s", &stderr)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit: got %v, want exit status 0; stderr:\n%s", err, &stderr)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the bot still runs 30 s after %v; stderr:\n%s", sig, &stderr)
			}
			for _, wrong := range []string{"starting all the same", "context canceled", "serving"} {
				if strings.Contains(stderr.String(), wrong) {
					t.Errorf("stderr says %q:\n%s", wrong, &stderr)
				}
			}
		})
	}
}
