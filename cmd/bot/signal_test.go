package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

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

	cmd := exec.Command(os.Args[0], "-config", f.cfg, "console")
	cmd.Env = append(os.Environ(), "SWITCHMAN_TEST_MAIN=1")
	stdin, _ := cmd.StdinPipe() // left open: the console waits for more
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	exited := make(chan error, 1)
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
		exited <- cmd.Wait()
	}()
	io.WriteString(stdin, "deploy demo 2\n")
	select {
	case <-restarting:
	case <-time.After(30 * time.Second):
		t.Fatalf("the deploy never reached its restart; stderr:\n%s", stderr)
	}

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
// hold it for step_timeout, and then for the switch back.
func TestConsoleStopWaitIsBounded(t *testing.T) {
	f := newDemo(t)
	if _, err := runBot(t, "deploy demo 1\n", "-config", f.cfg, "console"); err != nil {
		t.Fatal(err)
	}
	cfg := hangRestartOf2(t, f)

	cmd := exec.Command(os.Args[0], "-config", f.cfg, "console")
	cmd.Env = append(os.Environ(), "SWITCHMAN_TEST_MAIN=1", "SWITCHMAN_TEST_DRAIN_TIMEOUT=1s")
	stdin, _ := cmd.StdinPipe() // left open: the signal, not the input, stops it
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	exited := make(chan error, 1)
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
		exited <- cmd.Wait()
	}()
	io.WriteString(stdin, "deploy demo 2\n")
	select {
	case <-restarting:
	case <-time.After(30 * time.Second):
		t.Fatalf("the deploy never reached its restart; stderr:\n%s", stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("exit once the wait ran out: got %v, want exit status 1", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the console still waits a minute after SIGTERM, with a drain timeout of 1s; stderr:\n%s", stderr)
	}
	if want := "they will show as interrupted at the next start"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if err := os.WriteFile(f.cfg, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runBot(t, "status demo\n", "-config", f.cfg, "console")
	if err != nil {
		t.Fatal(err)
	}
	if want := "last deploy 2 (from 1) interrupted by alice"; !strings.Contains(out, want) {
		t.Errorf("status after the stop lacks %q:\n%s", want, out)
	}
}
