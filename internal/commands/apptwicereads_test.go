package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestAppWrittenTwiceReads: "status accounting accounting", "audit
// accounting accounting", "history accounting accounting" and "train
// leave accounting accounting on daily" were answered `unexpected word
// "accounting"`, where cancel, unlock, grant, revoke, rollback and stats
// name the app written twice. They now name it so too, with the command
// written right.
func TestAppWrittenTwiceReads(t *testing.T) {
	twice := func(fixed string) string {
		return `"accounting" is written twice; write it once: ` + suggest.Command(fixed)
	}
	checkReplies(t, []replyCase{
		{"status", "status accounting accounting", twice("status accounting")},
		{"status, quoted app", `status "accounting" accounting`, twice(`status "accounting"`)},
		{"audit", "audit accounting accounting", twice("audit accounting")},
		{"audit, N", "audit accounting accounting 5", twice("audit accounting 5")},
		{"history", "history accounting accounting", twice("history accounting")},
		{"history, env and N", "history accounting accounting production 5", twice("history accounting production 5")},
		{"train leave", "train leave accounting accounting on daily", twice("train leave accounting on daily")},
		{"train leave, no train", "train leave accounting accounting", twice("train leave accounting")},
	})
	// The commands offered parse back to what was meant.
	for _, tt := range []struct{ in, want string }{
		{"status accounting", "status accounting"},
		{`status "accounting"`, "status accounting"},
		{"audit accounting 5", "audit accounting 5"},
		{"history accounting production 5", "history accounting production 5"},
		{"train leave accounting on daily", "train leave accounting on daily"},
	} {
		if got := Parse(tt.in, testCat(), Options{}); got.Kind != Run || got.Cmd.Text != tt.want {
			t.Errorf("Parse(%q): got %v %q (%s), want a run of %q", tt.in, got.Kind, got.Cmd.Text, got.Reply, tt.want)
		}
	}
	// An env named as its app is still one where history takes an env;
	// status and audit, which take none, still say so; a train named as
	// the app is still offered with "on".
	cat := testCat()
	cat.envs["accounting"] = append(cat.envs["accounting"], "accounting")
	cat.trains = append(cat.trains, "accounting")
	if got := Parse("history accounting accounting", cat, Options{}); got.Kind != Run || got.Cmd.Env != "accounting" {
		t.Errorf(`Parse("history accounting accounting") with an env accounting: got %v env %q (%s), want a run`, got.Kind, got.Cmd.Env, got.Reply)
	}
	for in, want := range map[string]string{
		"status accounting accounting":      "status takes no env",
		"audit accounting accounting":       "audit takes no env",
		"train leave accounting accounting": `unexpected word "accounting"; write "on" before the train: ` + suggest.Command("train leave accounting on accounting"),
	} {
		got := Parse(in, cat, Options{})
		if got.Kind != Reply || len(got.Reply) < len(want) || got.Reply[:len(want)] != want {
			t.Errorf("Parse(%q) with an env and a train accounting: got %v %q, want a reply starting %q", in, got.Kind, got.Reply, want)
		}
	}
}
