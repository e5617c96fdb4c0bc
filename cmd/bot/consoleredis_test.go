package main

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
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
	f.killRestarting(t, cmd, exited, original)
	killed := time.Now()

	// At once, while the dead console's lease still holds, and left
	// open for longer than the lease lives; then the same console, asked
	// once the lease has run out.
	const want = "of demo 2 to local was interrupted"
	limit := ttl + 5*time.Second
	out, errOut, reported, err := f.consoleAfter(t, want, killed.Add(limit), "status demo\n")
	if err != nil {
		t.Errorf("console: %v", err)
	}
	if !reported {
		t.Errorf("the console did not report the deploy interrupted within %s of the kill; got:\n%s\nstderr:\n%s", limit, out, errOut)
	}
	if want := "last deploy 2 (from 1) interrupted by alice"; !strings.Contains(out, want) {
		t.Errorf("status lacks %q:\n%s", want, out)
	}
}
