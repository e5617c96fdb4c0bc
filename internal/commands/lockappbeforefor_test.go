package commands

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockUnknownAppBeforeFor: "lock deploys nosuch for 1h x", nosuch no
// app, locked every app until unlock with the reason "nosuch for 1h x":
// the word in the app's place started the reason, and the duration after
// it went into the reason unread. It is refused, naming the unknown app
// and the known ones, offering the command with the app fixed where a
// near miss says which was meant.
func TestLockUnknownAppBeforeFor(t *testing.T) {
	refused := []lockRefused{
		{"unknown app", "lock deploys nosuch for 1h x",
			`unknown app "nosuch"; known apps: accounting, demo; read as the start of the reason, it would lock every app until unlock, with "for 1h" a part of the reason: name a known app, or, to start the reason with "nosuch", quote it: lock deploys for 1h "nosuch …"`},
		{"unknown app, duration out of range", "lock deploys nosuch for 100d db work",
			`unknown app "nosuch"; known apps: accounting, demo; read as the start of the reason, it would lock every app until unlock, with "for 100d" a part of the reason: name a known app, or, to start the reason with "nosuch", quote it: lock deploys for 100d "nosuch …"`},
		{"two letters, a near miss", "lock deploys de for 1h x",
			`unknown app "de"; did you mean ` + suggest.Command("lock deploys demo for 1h x") + `? known apps: accounting, demo; to start the reason with "de", quote it: lock deploys for 1h "de …"`},
	}
	runs := []lockRun{
		{"one word and a duration last", "lock deploys nosuch for 1h",
			Command{Verb: VerbLock, For: time.Hour, Reason: "nosuch", Text: `lock deploys for 1h "nosuch"`}},
		{"quoted", `lock deploys "nosuch for 1h x"`,
			Command{Verb: VerbLock, Reason: "nosuch for 1h x", Text: `lock deploys "nosuch for 1h x"`}},
		{"duration first", "lock deploys for 1h nosuch x",
			Command{Verb: VerbLock, For: time.Hour, Reason: "nosuch x", Text: `lock deploys for 1h "nosuch x"`}},
		{"no duration after for", "lock deploys waiting for 2 signoffs",
			Command{Verb: VerbLock, Reason: "waiting for 2 signoffs", Text: `lock deploys "waiting for 2 signoffs"`}},
		{"the app named", "lock deploys demo for 1h x",
			Command{Verb: VerbLock, App: "demo", For: time.Hour, Reason: "x", Text: `lock deploys demo for 1h "x"`}},
	}
	checkLockParses(t, refused, runs)
}
