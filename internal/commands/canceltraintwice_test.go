package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestTrainCancelNameTwice: "train cancel daily daily" called off the
// daily train with the reason "daily", and "train cancel daily daily db
// migration" with the reason "daily db migration": a reason that repeats
// the train it follows is almost surely the name written twice. It is
// now refused with both readings written right; the form with REASON
// to fill in is not marked as a command, which sent would call the train
// off for the reason "REASON".
func TestTrainCancelNameTwice(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"reason after", "train cancel daily daily db migration",
			`"daily" is written twice; write it once: ` + suggest.Command("train cancel daily db migration") +
				`, or, to start the reason with "daily", quote it: ` + suggest.Command(`train cancel daily "daily" db migration`)},
		{"no reason", "train cancel daily daily",
			`"daily" is written twice, and a train cancel must say why: ` + "train cancel daily REASON" +
				`, or, to give "daily" as the reason, quote it: ` + suggest.Command(`train cancel daily "daily"`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q (reason %q), want a reply starting %q", tt.in, got.Kind, got.Reply, got.Cmd.Reason, tt.want)
			}
		})
	}
	// Either reading, sent as written, runs as meant.
	for in, reason := range map[string]string{
		"train cancel daily db migration":         "db migration",
		`train cancel daily "daily" db migration`: "daily db migration",
		`train cancel daily "daily"`:              "daily",
	} {
		if got := Parse(in, testCat(), Options{}); got.Kind != Run || got.Cmd.Train != "daily" || got.Cmd.Reason != reason {
			t.Errorf("Parse(%q): got %v train %q reason %q (%s), want a run for daily with the reason %q", in, got.Kind, got.Cmd.Train, got.Cmd.Reason, got.Reply, reason)
		}
	}
}
