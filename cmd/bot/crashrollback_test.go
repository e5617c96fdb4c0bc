package main

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestCrashMidRollbackLeavesItLocked: a bot killed with SIGKILL while its
// rollback restarts the host leaves demo/local locked by the rollback's
// lock, which it took before its switch, so that no deploy ships the
// release it was leaving again unsaid; the report of the interrupted
// rollback and status say the lock stays, and a deploy is refused by it.
// The rollback once locked only after its last host, and the app+env was
// left unlocked. On the embedded store the next start reports it; on
// Redis, a console started at once does when the dead one's lease has run
// out.
func TestCrashMidRollbackLeavesItLocked(t *testing.T) {
	for _, store := range []string{"embedded", "redis"} {
		t.Run(store, func(t *testing.T) {
			f := newDemo(t)
			if store == "redis" {
				f.onRedis(t, redisserver.Start(t).URL())
			}
			if _, err := runBot(t, "deploy demo 1\ndeploy demo 2\n", "-config", f.cfg, "console"); err != nil {
				t.Fatal(err)
			}
			original := hangRestartOf(t, f, "1")
			cmd, _, _, exited := consoleUntilRestart(t, f, "rollback demo")
			f.killRestarting(t, cmd, exited, original)

			const reported = "of demo 1 to local was interrupted"
			out, errOut, _, err := f.consoleAfter(t, reported, time.Now().Add(30*time.Second), "status demo\ndeploy demo 2\n")
			if err != nil {
				t.Logf("console: %v", err) // the refused deploy
			}
			got := out + errOut
			for _, want := range []string{
				reported,
				"🔒 demo/local: locked by switchman since",
				"rolled back from 2 by alice: fix before deploying again",
				"last rollback 1 (from 2) interrupted by alice",
				"demo/local is locked: locked by switchman",
				"decide: rollback demo local to 1 from 2, or unlock deploys demo local, then deploy demo BUILD to local",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("after the crash, the console lacks %q:\n%s", want, got)
				}
			}
			// Said by the report of the interrupted rollback and by status.
			const kept = "it locked demo/local before its first switch, and the lock stays until someone unlocks it (unlock deploys demo local)"
			if n := strings.Count(got, kept); n != 2 {
				t.Errorf("%q is said %d times after the crash, want twice (the interrupted message and status):\n%s", kept, n, got)
			}
			if got := f.current(t); got != "releases/1" {
				t.Errorf("current after the crash: got %q, want releases/1 (the rollback switched it)", got)
			}
		})
	}
}
