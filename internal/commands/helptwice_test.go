package commands

import "testing"

// TestHelpWrittenTwice: "help help lock" was answered `unexpected word
// "lock"`; it is named as help written twice now, with the command
// written right. "help help" alone is still help's own topic.
func TestHelpWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"topic", "help help lock", "help", "help lock", "help lock"},
		{"any case, slash topic", "help HELP /deploy", "HELP", "help /deploy", "help deploy"},
		{"two-word topic", "help help lock deploys", "help", "help lock deploys", "help lock"},
	})
	if got := Parse("help help", testCat(), Options{}); got.Kind != Run || got.Cmd.Topic != "help" {
		t.Errorf(`Parse("help help"): got %v topic %q (%s), want a run of help's topic`, got.Kind, got.Cmd.Topic, got.Reply)
	}
}
