package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestStatsWrittenTwice: "stats accounting 30d 30d" was answered
// `unknown env "30d"`, and "stats accounting accounting" `unknown env
// "accounting"`: a word written twice, looked up as an env. The word
// written twice is now named, with the command written right.
func TestStatsWrittenTwice(t *testing.T) {
	checkReplies(t, []replyCase{
		{"window twice", "stats accounting 30d 30d",
			`"30d" is written twice; write it once: ` + suggest.Command("stats accounting 30d")},
		{"window twice after the env", "stats accounting production 30d 30d",
			`"30d" is written twice; write it once: ` + suggest.Command("stats accounting production 30d")},
		{"two windows", "stats accounting 7d 30d",
			`the window is written twice ("7d" and "30d"); write one, last: ` + suggest.Command("stats accounting 30d")},
		{"app twice", "stats accounting accounting",
			`"accounting" is written twice; write it once: ` + suggest.Command("stats accounting")},
		{"app twice, window", "stats accounting accounting 7d",
			`"accounting" is written twice; write it once: ` + suggest.Command("stats accounting 7d")},
		{"env twice", "stats accounting staging staging",
			`"staging" is written twice; write it once: ` + suggest.Command("stats accounting staging")},
	})
	// An env named as its app is still one.
	cat := testCat()
	cat.envs["accounting"] = append(cat.envs["accounting"], "accounting")
	if got := Parse("stats accounting accounting", cat, Options{}); got.Kind != Run || got.Cmd.Env != "accounting" {
		t.Errorf(`Parse("stats accounting accounting") with an env accounting: got %v env %q (%s), want a run`, got.Kind, got.Cmd.Env, got.Reply)
	}
}
