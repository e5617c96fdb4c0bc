package commands

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockUnknownEnvBeforeFor: "lock deploys demo local for 1h x", local
// no env of demo, locked every env of demo until unlock with the reason
// "local for 1h x": the word in the env's place started the reason, and
// the duration after it went into the reason unread. It is refused,
// naming the unknown env and demo's envs, offering the command with the
// env fixed only where a near miss says which was meant.
func TestLockUnknownEnvBeforeFor(t *testing.T) {
	refused := []lockRefused{
		{"unknown env", "lock deploys demo local for 1h x",
			`unknown env "local" for demo; known envs: production, staging; read as the start of the reason, it would lock every env of demo until unlock, with "for 1h" a part of the reason: name a known env, or, to start the reason with "local", quote it: lock deploys demo for 1h "local …"`},
		{"unknown env, duration out of range", "lock deploys demo local for 100d db work",
			`unknown env "local" for demo; known envs: production, staging; read as the start of the reason, it would lock every env of demo until unlock, with "for 100d" a part of the reason: name a known env, or, to start the reason with "local", quote it: lock deploys demo for 100d "local …"`},
		{"near miss", "lock deploys demo prod for 1h x",
			`unknown env "prod" for demo; did you mean ` + suggest.Command("lock deploys demo production for 1h x") + `? known envs: production, staging; to start the reason with "prod", quote it: lock deploys demo for 1h "prod …"`},
		{"near miss, reason quoted", `lock deploys demo stagign for 1h "db work"`,
			`unknown env "stagign" for demo; did you mean ` + suggest.Command(`lock deploys demo staging for 1h "db work"`) + `? known envs: production, staging; to start the reason with "stagign", quote it: lock deploys demo for 1h "stagign …"`},
		{"near miss, no reason after", "lock deploys demo prod for 1h",
			`unknown env "prod" for demo; did you mean "production"? known envs: production, staging; to start the reason with "prod", quote it: lock deploys demo for 1h "prod …"`},
	}
	runs := []lockRun{
		{"offered", "lock deploys demo production for 1h x",
			Command{Verb: VerbLock, App: "demo", Env: "production", For: time.Hour, Reason: "x", Text: `lock deploys demo production for 1h "x"`}},
		{"one word and a duration last", "lock deploys demo local for 1h",
			Command{Verb: VerbLock, App: "demo", For: time.Hour, Reason: "local", Text: `lock deploys demo for 1h "local"`}},
		{"quoted", `lock deploys demo "local for 1h x"`,
			Command{Verb: VerbLock, App: "demo", Reason: "local for 1h x", Text: `lock deploys demo "local for 1h x"`}},
		{"duration first", "lock deploys demo for 1h local x",
			Command{Verb: VerbLock, App: "demo", For: time.Hour, Reason: "local x", Text: `lock deploys demo for 1h "local x"`}},
		{"no duration after for", "lock deploys demo local for 2 reviewers",
			Command{Verb: VerbLock, App: "demo", Reason: "local for 2 reviewers", Text: `lock deploys demo "local for 2 reviewers"`}},
	}
	checkLockParses(t, refused, runs)
}
