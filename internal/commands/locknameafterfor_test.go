package commands

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockNameAfterFor: "lock deploys demo for 1h staging db" locked every
// env of demo for 1h with the reason "staging db", and "lock deploys for
// 1h demo db" every app: the env or app written after "for DURATION"
// started the reason, and the lock covered more than was named. A reason
// that starts with an app or env name is refused there as it is before
// "for", offering the command with the name before "for" where that
// says the lock meant; quoted, it is the reason.
func TestLockNameAfterFor(t *testing.T) {
	refused := []lockRefused{
		{"env after for", "lock deploys demo for 1h staging db",
			`"staging" is an env of demo, and the env goes before "for": ` + suggest.Command("lock deploys demo staging for 1h db") + `; to start the reason with "staging", quote it: lock deploys demo for 1h "staging …"`},
		{"app after for", "lock deploys for 1h demo db work",
			`"demo" is an app, and the app goes before "for": ` + suggest.Command("lock deploys demo for 1h db work") + `; to start the reason with "demo", quote it: lock deploys for 1h "demo …"`},
		{"env after for, no reason", "lock deploys demo for 1h staging",
			`"staging" is an env of demo, and the env goes before "for", and a lock must say why: lock deploys demo staging for 1h REASON; to start the reason with "staging", quote it: lock deploys demo for 1h "staging …"`},
		{"env without its app", "lock deploys for 1h staging db",
			`"staging" is an env; name the app first, before "for": lock deploys APP staging for 1h …, or, to start the reason with "staging", quote it: lock deploys for 1h "staging …"`},
		{"another env", "lock deploys demo production for 1h staging db",
			`a lock covers one env, and "staging" is another: lock each (lock deploys demo staging …), or every env of demo (lock deploys demo …); to start the reason with "staging", quote it: lock deploys demo production for 1h "staging …"`},
		{"another app", "lock deploys demo for 1h accounting db",
			`a lock covers one app, and "accounting" is another: lock each (lock deploys accounting …), or every app (lock deploys …); to start the reason with "accounting", quote it: lock deploys demo for 1h "accounting …"`},
		{"the app twice", "lock deploys demo for 1h demo db",
			`"demo" is written twice; write it once: ` + suggest.Command("lock deploys demo for 1h db") + `, or, to start the reason with "demo", quote it: lock deploys demo for 1h "demo …"`},
	}
	runs := []lockRun{
		{"env before for", "lock deploys demo staging for 1h db",
			Command{Verb: VerbLock, App: "demo", Env: "staging", For: time.Hour, Reason: "db", Text: `lock deploys demo staging for 1h "db"`}},
		{"quoted", `lock deploys demo for 1h "staging db"`,
			Command{Verb: VerbLock, App: "demo", For: time.Hour, Reason: "staging db", Text: `lock deploys demo for 1h "staging db"`}},
		{"a name later in the reason", "lock deploys demo for 1h db of staging",
			Command{Verb: VerbLock, App: "demo", For: time.Hour, Reason: "db of staging", Text: `lock deploys demo for 1h "db of staging"`}},
	}
	checkLockParses(t, refused, runs)
}
