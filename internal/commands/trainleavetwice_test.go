package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestTrainLeaveOnTwiceOrBlank: "train leave accounting on on daily" was
// answered `unknown train "on"`, and `train leave "" on daily` `unknown
// app ""`, as if a name had been looked up and not found. The first is
// now named as "on" written twice, with the command written right; a
// name left blank is named as such, as other commands name it.
func TestTrainLeaveOnTwiceOrBlank(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"on on", "train leave accounting on on daily",
			`"on" is written twice; write it once: ` + suggest.Command("train leave accounting on daily")},
		{"on on, quoted app", `train leave "accounting" on on daily`,
			`"on" is written twice; write it once: ` + suggest.Command(`train leave "accounting" on daily`)},
		{"on on, no train", "train leave accounting on on",
			`"on" is written twice; write it once: train leave accounting on TRAIN; trains: daily, weekly`},
		{"app blank", `train leave "" on daily`,
			"an empty quoted word stands where the app goes: name the app; known apps: accounting, demo"},
		{"app blank alone", `train leave ''`,
			"an empty quoted word stands where the app goes: name the app; known apps: accounting, demo"},
		{"train blank", `train leave accounting on ""`,
			"an empty quoted word stands where the train goes: name the train; known trains: daily, weekly"},
		{"board train blank", `train board accounting 1337 on ""`,
			"an empty quoted word stands where the train goes: name the train; known trains: daily, weekly"},
		{"depart train blank", `train depart "" now`,
			"an empty quoted word stands where the train goes: name the train; known trains: daily, weekly"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkNoPlaceholderMarked(t, tt.in, got.Reply)
		})
	}
	// A train named "on" is still one.
	cat := testCat()
	cat.trains = append(cat.trains, "on")
	if got := Parse("train leave accounting on on", cat, Options{}); got.Kind != Run || got.Cmd.Train != "on" {
		t.Errorf(`Parse("train leave accounting on on") with a train on: got %v train %q (%s), want a run leaving the train on`, got.Kind, got.Cmd.Train, got.Reply)
	}
}
