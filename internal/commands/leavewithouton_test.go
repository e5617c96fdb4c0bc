package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLeaveTrainWithoutOn: "train leave accounting accounting daily" was
// answered `"accounting" is written twice; write it once, and then
// unexpected word "daily"; did you mean "on daily"?`, with no command,
// where train board answers a train without its "on" with the command
// written with it. Train leave does so too now, so that a second slip
// next to it is fixed in the same command.
func TestLeaveTrainWithoutOn(t *testing.T) {
	tests := []struct{ name, in, want, run string }{
		{"alone", "train leave accounting daily",
			`unexpected word "daily"; write "on" before the train: ` + suggest.Command("train leave accounting on daily"),
			"train leave accounting on daily"},
		{"app twice", "train leave accounting accounting daily",
			`"accounting" is written twice; write it once, and unexpected word "daily"; write "on" before the train: ` + suggest.Command("train leave accounting on daily"),
			"train leave accounting on daily"},
		{"quoted app kept", `train leave "accounting" weekly`,
			`unexpected word "weekly"; write "on" before the train: ` + suggest.Command(`train leave "accounting" on weekly`),
			"train leave accounting on weekly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want+"\n") {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, tt.run)
		})
	}
	// A stray word after the train is no slip to fix: nothing is offered.
	in := "train leave accounting daily extra"
	got := Parse(in, testCat(), Options{})
	if want := `unexpected word "daily"; write "on" before the train, and unexpected word "extra"`; got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
		t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", in, got.Kind, got.Reply, want)
	}
	checkOffersRun(t, in, got.Reply, "")
}
