package commands

import "testing"

// TestHelpFlagAfterWordTwice: "deploy deploy --help" was answered
// `"deploy" is written twice; write it once: deploy --help`, a slip to
// fix before the help asked for. --help asks for the command's help
// whatever else is written, as in "deploy web --help", so it is that
// help now.
func TestHelpFlagAfterWordTwice(t *testing.T) {
	for _, tt := range []struct{ in, topic string }{
		{"deploy deploy --help", "deploy"},
		{"deploy deploy -h", "deploy"},
		{"deploy deploy accounting 1337 --HELP", "deploy"},
		{"status status --help", "status"},
		{"train board board --help", "train"},
		{"train train board --help", "train"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Run || got.Cmd.Verb != VerbHelp || got.Cmd.Topic != tt.topic || got.Reply != Help(tt.topic, testCat()) {
				t.Errorf("Parse(%q): got %v %s topic %q (%q), want help for %s", tt.in, got.Kind, got.Cmd.Verb, got.Cmd.Topic, got.Reply, tt.topic)
			}
		})
	}
}
