package commands

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockDurationWithoutFor: "lock deploys demo 2h db" locked every env
// of demo until unlock with the reason "2h db", and "lock deploys demo
// staging 2h" demo/staging until unlock with the reason "2h": a duration
// written without its "for" started the reason, and the lock meant to
// expire never did. It is refused, offering the command with "for" where
// it runs; quoted, it is the reason.
func TestLockDurationWithoutFor(t *testing.T) {
	refused := []lockRefused{
		{"after the app", "lock deploys demo 2h db",
			`"2h" reads as a duration, and without "for" before it, it starts the reason of a lock that holds until unlock: write ` + suggest.Command("lock deploys demo for 2h db") + `, or, to start the reason with "2h", quote it: lock deploys demo "2h …"`},
		{"every app", "lock deploys 1h30m db work",
			`"1h30m" reads as a duration, and without "for" before it, it starts the reason of a lock that holds until unlock: write ` + suggest.Command("lock deploys for 1h30m db work") + `, or, to start the reason with "1h30m", quote it: lock deploys "1h30m …"`},
		{"the whole reason", "lock deploys demo staging 2h",
			`"2h" reads as a duration, and without "for" before it, it is the reason of a lock that holds until unlock: write lock deploys demo staging for 2h REASON, or, to start the reason with "2h", quote it: lock deploys demo staging "2h …"`},
		{"out of range", "lock deploys demo 100d db",
			`"100d" reads as a duration, and without "for" before it, it starts the reason of a lock that holds until unlock: write "for DURATION" then the reason, e.g. lock deploys accounting production for 2h db migration, or, to start the reason with "100d", quote it: lock deploys demo "100d …"`},
	}
	runs := []lockRun{
		{"with for", "lock deploys demo for 2h db",
			Command{Verb: VerbLock, App: "demo", For: 2 * time.Hour, Reason: "db", Text: `lock deploys demo for 2h "db"`}},
		{"quoted", `lock deploys demo "2h db"`,
			Command{Verb: VerbLock, App: "demo", Reason: "2h db", Text: `lock deploys demo "2h db"`}},
		{"a number that is no duration", "lock deploys demo 2fa rollout",
			Command{Verb: VerbLock, App: "demo", Reason: "2fa rollout", Text: `lock deploys demo "2fa rollout"`}},
		{"a duration later in the reason", "lock deploys demo db down 2h ago",
			Command{Verb: VerbLock, App: "demo", Reason: "db down 2h ago", Text: `lock deploys demo "db down 2h ago"`}},
	}
	checkLockParses(t, refused, runs)
}
