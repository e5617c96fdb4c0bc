package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestHistoryNFirst: "history 20 accounting" was refused as an unknown app
// "20", while "audit 20 accounting" is told that N comes after the app.
// The command offered was "history accounting N", with N to fill in; it
// is the command with the N given last now, marked as one to send.
func TestHistoryNFirst(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // in the reply
	}{
		{"before the app", "history 20 accounting", "N goes last: " + suggest.Command("history accounting 20")},
		{"before the app and env", "history 20 accounting production", "N goes last: " + suggest.Command("history accounting production 20")},
		{"between the app and env", "history accounting 20 production", "N goes last: " + suggest.Command("history accounting production 20")},
		{"out of range", "history 500 accounting", `N must be a whole number from 1 to 100, not "500", and goes last: history accounting N`},
		{"two numbers", "history 5 5", `N is written twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply {
				t.Fatalf("Parse(%q): got kind %v (%q), want reply", tt.in, got.Kind, got.Cmd.Text)
			}
			if !strings.Contains(got.Reply, tt.want) {
				t.Errorf("Parse(%q):\ngot reply %q\nwant it to contain %q", tt.in, got.Reply, tt.want)
			}
		})
	}
}
