package commands

import "testing"

// TestTrainActionWrittenTwice: "train board board accounting 1337" was
// answered `unknown app "board"`, and "train train board …" `unknown
// train action "train"`. Both are named as written twice now, with the
// command written right, as "deploy deploy …" is.
func TestTrainActionWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"board", "train board board accounting 1337 on daily", "board",
			"train board accounting 1337 on daily", "train board accounting 1337 on daily"},
		{"leave, any case", "train leave LEAVE accounting on daily", "LEAVE",
			"train leave accounting on daily", "train leave accounting on daily"},
		{"depart", "train depart depart weekly now", "depart",
			"train depart weekly now", "train depart weekly now"},
		{"train before board", "train train board accounting 1337 to staging on daily", "train",
			"train board accounting 1337 to staging on daily", "train board accounting 1337 to staging on daily"},
		{"train before leave", `train train leave "accounting" on daily`, "train",
			`train leave "accounting" on daily`, "train leave accounting on daily"},
	})
	// An app named as the action is that app.
	cat := testCat()
	cat.envs["board"] = []string{"production"}
	cat.defaults["board"] = "production"
	if got := Parse("train board board 1337 on daily", cat, Options{}); got.Kind != Run || got.Cmd.App != "board" {
		t.Errorf("Parse(%q) with an app board: got %v app %q (%s), want a run", "train board board 1337 on daily", got.Kind, got.Cmd.App, got.Reply)
	}
}
