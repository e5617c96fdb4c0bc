package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestHistoryNWrittenTwice: "history accounting 5 5" offered
// "history accounting N", a command with N left to fill in, where
// "audit 5 5" offers one to send. History keeps the last N now, as audit
// does, and the command it offers runs.
func TestHistoryNWrittenTwice(t *testing.T) {
	for _, tt := range []struct {
		name, in, fixed, run string
	}{
		{"no app", "history 5 5", "history 5", "history 5"},
		{"two Ns", "history 5 7", "history 7", "history 7"},
		{"after the app", "history accounting 5 5", "history accounting 5", "history accounting 5"},
		{"after the env", "history accounting production 5 7", "history accounting production 7", "history accounting production 7"},
		{"between the app and env", "history accounting 5 production 7", "history accounting production 7", "history accounting production 7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.Contains(got.Reply, "N is written twice") || !strings.Contains(got.Reply, "write it once, last: "+suggest.Command(tt.fixed)+"\n") {
				t.Fatalf("Parse(%q): got %v %q, want a reply offering %q", tt.in, got.Kind, got.Reply, tt.fixed)
			}
			if back := Parse(tt.fixed, testCat(), Options{}); back.Kind != Run || back.Cmd.Text != tt.run {
				t.Errorf("Parse(%q), offered: got %v %q (%s), want a run of %q", tt.fixed, back.Kind, back.Cmd.Text, back.Reply, tt.run)
			}
		})
	}
}
