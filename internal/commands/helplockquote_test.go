package commands

import (
	"strings"
	"testing"
)

// TestHelpLockQuoteDuration: the help of lock said to quote a reason
// that starts with an app or env name, but one that starts with a word
// written as a duration is refused unquoted too ("lock deploys demo 3d
// printer down" asks for "for"). The help now says so, and each start it
// names is refused unquoted and taken quoted, as it says.
func TestHelpLockQuoteDuration(t *testing.T) {
	help := strings.Join(HelpMessage("lock", testCat()).Lines, "\n")
	for _, part := range []string{
		"quote it if it starts with an app or env name",
		`or with a word written as a duration ("3d printer down")`,
	} {
		if !strings.Contains(help, part) {
			t.Errorf("help of lock: want %q in %q", part, help)
		}
	}
	for _, tt := range []struct{ name, unquoted, quoted, reason string }{
		{"duration", "lock deploys demo 3d printer down", `lock deploys demo "3d printer down"`, "3d printer down"},
		{"app", "lock deploys demo demo site down", `lock deploys demo "demo site down"`, "demo site down"},
		{"env", "lock deploys demo staging staging db", `lock deploys demo staging "staging db"`, "staging db"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse(tt.unquoted, testCat(), Options{}); got.Kind != Reply {
				t.Errorf("Parse(%q): got %v %+v, want it refused, as the help says", tt.unquoted, got.Kind, got.Cmd)
			}
			if got := Parse(tt.quoted, testCat(), Options{}); got.Kind != Run || got.Cmd.Reason != tt.reason {
				t.Errorf("Parse(%q): got %v reason %q (%s), want a run with reason %q", tt.quoted, got.Kind, got.Cmd.Reason, got.Reply, tt.reason)
			}
		})
	}
}
