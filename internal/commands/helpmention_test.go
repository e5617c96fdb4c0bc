package commands

import (
	"strings"
	"testing"
)

// TestHelpSaysWhereMentionsWork: the overview said commands work "after
// a mention of the bot" wherever it was read, while Discord takes slash
// commands and buttons, not mentions: a Discord user who mentioned the
// bot got no answer. It says mentions are Slack's, and still fits whole.
func TestHelpSaysWhereMentionsWork(t *testing.T) {
	const want = `Commands (as is, after "/", or in Slack after a mention of the bot):`
	for _, tt := range []struct {
		name, topic string
	}{
		{"overview", ""},
		{"unknown topic", "nosuch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Help(tt.topic, testCat())
			if !strings.Contains(got, "\n"+want+"\n") && !strings.HasPrefix(got, want+"\n") {
				t.Errorf("Help(%q): got\n%s\nwant the line %q", tt.topic, got, want)
			}
			if end := `Details and examples of one command: "help deploy", say.`; tt.topic == "" && !strings.HasSuffix(got, end) {
				t.Errorf("Help(%q): got\n%s\nwant it whole, ending %q", tt.topic, got, end)
			}
		})
	}
}
