package commands

import "testing"

// TestTrainBoardEnvWrittenTwice: "train board accounting 1337 to
// production production on daily" was answered `unexpected word
// "production"`, where deploy names the env written twice. Train board
// now names it too, with the command written right, each other part kept.
func TestTrainBoardEnvWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"train after", "train board accounting 1337 to production production on daily", "production",
			"train board accounting 1337 to production on daily", "train board accounting 1337 to production on daily"},
		{"train before", "train board accounting 1337 on daily to staging staging", "staging",
			"train board accounting 1337 on daily to staging", "train board accounting 1337 to staging on daily"},
		{"env quoted", `train board accounting 1337 to "production" production on daily`, "production",
			`train board accounting 1337 to "production" on daily`, "train board accounting 1337 to production on daily"},
	})
}
