package commands

import (
	"strings"
	"testing"
)

// TestQuotedBuildNamedAsName: `train board accounting "daily" on daily`
// was refused as `"daily" is a train, not a build` though the build was
// quoted, where a quoted "to" or "on" in the build's place is the build,
// and rollback takes a quoted build named as an env. A quoted build is
// the build now, whatever it is named, and the command's text quotes it,
// so that it reads back so.
func TestQuotedBuildNamedAsName(t *testing.T) {
	tests := []struct {
		name, in string
		want     Command
	}{
		{"train board, a train", `train board accounting "daily" on daily`,
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "daily", Train: "daily", Text: `train board accounting "daily" on daily`}},
		{"train board, the other train", `train board accounting "weekly" on daily`,
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "weekly", Train: "daily", Text: `train board accounting "weekly" on daily`}},
		{"train board, an env", `train board accounting 'staging' to production on weekly`,
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "staging", Env: "production", Train: "weekly", Text: `train board accounting "staging" to production on weekly`}},
		{"deploy, an env", `deploy accounting "staging" to production`,
			Command{Verb: VerbDeploy, App: "accounting", Build: "staging", Env: "production", Text: `deploy accounting "staging" to production`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Run || got.Cmd != tt.want {
				t.Fatalf("Parse(%q): got %v %+v (%s), want a run of %+v", tt.in, got.Kind, got.Cmd, got.Reply, tt.want)
			}
			if back := Parse(got.Cmd.Text, testCat(), Options{}); back.Kind != Run || back.Cmd != tt.want {
				t.Errorf("Parse(%q), its text: got %v %+v (%s), want a run of %+v", got.Cmd.Text, back.Kind, back.Cmd, back.Reply, tt.want)
			}
		})
	}
	// Unquoted, such a name is still taken for the name misplaced.
	for _, tt := range []struct{ in, want string }{
		{"train board accounting daily on daily", `"daily" is a train, not a build`},
		{"train board accounting staging on daily", `"staging" is an env of accounting, not a build`},
		{"deploy accounting staging", `"staging" is an env of accounting, not a build`},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
			t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
}
