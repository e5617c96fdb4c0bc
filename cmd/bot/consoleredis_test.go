package main

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// TestConsoleOnRedisReportsDeployLeftWithinTheLeaseTTL: a console on a
// Redis store stopped at once mid-deploy (a second Ctrl-C, a kill) leaves
// the deploy's lease in Redis for lease_ttl. A console started again
// before it runs out finds the deploy still held at start-up; it must
// still report it interrupted once the lease runs out, as serve does,
// rather than leave it shown running until the next deploy of the env.
func TestConsoleOnRedisReportsDeployLeftWithinTheLeaseTTL(t *testing.T) {
	f := newDemo(t)
	srv := redisserver.Start(t)
	const ttl = 2 * time.Second // onRedis's lease_ttl
	f.onRedis(t, srv.URL())
	if _, err := runBot(t, "deploy demo 1\n", "-config", f.cfg, "console"); err != nil {
		t.Fatal(err)
	}
	original := hangRestartOf2(t, f)
	cmd, _, _, exited := restartingConsole(t, f)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	killed := time.Now()
	if err := os.WriteFile(f.cfg, original, 0o644); err != nil {
		t.Fatal(err)
	}

	// At once, while the dead console's lease still holds, and left
	// open for longer than the lease lives.
	in, stdin := io.Pipe()
	var out, errOut syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"-config", f.cfg, "console"}, stdio{In: in, Out: &out, Err: &errOut})
	}()
	const want = "of demo 2 to local was interrupted"
	limit := ttl + 5*time.Second
	deadline := killed.Add(limit)
	for !strings.Contains(out.String(), want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	reported := strings.Contains(out.String(), want)
	// The same console, asked once the lease has run out.
	io.WriteString(stdin, "status demo\n")
	stdin.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("console: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the console did not end with its input")
	}
	if !reported {
		t.Errorf("the console did not report the deploy interrupted within %s of the kill; got:\n%s\nstderr:\n%s", limit, out.String(), errOut.String())
	}
	if want := "last deploy 2 (from 1) interrupted by alice"; !strings.Contains(out.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, out.String())
	}
}
