package commands

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockDurationFirstAndLast: "lock deploys demo for 1h db for 2h"
// locked demo for 1h with the reason "db for 2h": the duration given last
// went into the reason unread, and the lock said another expiry than it
// had. A duration given both first and last is refused as written twice,
// with the command written with one; a "for" last with no duration after
// it is still words of the reason.
func TestLockDurationFirstAndLast(t *testing.T) {
	refused := []lockRefused{
		{"two durations", "lock deploys demo for 1h db for 2h",
			`"for" takes one duration, and "1h" and "2h" are two: write one, e.g. ` + suggest.Command("lock deploys demo for 1h db") + ` (to keep both in the reason, quote it)`},
		{"every app", "lock deploys for 1h db work for 30m",
			`"for" takes one duration, and "1h" and "30m" are two: write one, e.g. ` + suggest.Command("lock deploys for 1h db work") + ` (to keep both in the reason, quote it)`},
		{"the last out of range", "lock deploys demo staging for 1h db for 100d",
			`"for" takes one duration, and "1h" and "100d" are two: write one, e.g. ` + suggest.Command("lock deploys demo staging for 1h db") + ` (to keep both in the reason, quote it)`},
		{"the same twice", "lock deploys demo for 1h db for 1h",
			`"for" is written twice; write it once: ` + suggest.Command("lock deploys demo for 1h db") + ` (to end the reason with "for", quote it)`},
	}
	runs := []lockRun{
		{"for and no duration last", "lock deploys demo for 1h waiting for 2 signoffs",
			Command{Verb: VerbLock, App: "demo", For: time.Hour, Reason: "waiting for 2 signoffs", Text: `lock deploys demo for 1h "waiting for 2 signoffs"`}},
		{"quoted", `lock deploys demo for 1h "db for 2h"`,
			Command{Verb: VerbLock, App: "demo", For: time.Hour, Reason: "db for 2h", Text: `lock deploys demo for 1h "db for 2h"`}},
	}
	checkLockParses(t, refused, runs)
}
