package commands

import (
	"strings"
	"testing"
)

// TestTrainDepartTwoTrains: "train depart daily weekly now" was answered
// `unexpected word "weekly"; to send the train off now: train depart
// daily now`, offering to send off one of two trains named. Both are
// named now, with no command offered.
func TestTrainDepartTwoTrains(t *testing.T) {
	for _, in := range []string{"train depart daily weekly now", "train depart weekly daily"} {
		got := Parse(in, testCat(), Options{})
		want := `two trains are named, `
		if got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
			t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", in, got.Kind, got.Reply, want)
		}
		checkOffersRun(t, in, got.Reply, "")
	}
}
