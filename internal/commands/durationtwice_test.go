package commands

import (
	"strings"
	"testing"
)

// TestDurationWrittenTwice: "grant @ana deployer accounting production
// for 2h 2h" was answered `"for DURATION" goes last, e.g. …`, an example
// and no command to send, where lock names its duration written twice
// with the command written right. Grant and here do too now.
func TestDurationWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"grant", "grant @ana deployer accounting production for 2h 2h", "2h",
			"grant @ana deployer accounting production for 2h", "grant @ana deployer accounting production for 2h"},
		{"grant, every app", "grant @ana deployer for 1h30m 1h30m", "1h30m",
			"grant @ana deployer for 1h30m", "grant @ana deployer for 1h30m"},
		{"grant, quoted app kept", `grant @ana deployer "accounting" for 2h 2H`, "2H",
			`grant @ana deployer "accounting" for 2h`, "grant @ana deployer accounting for 2h"},
		{"here", "here for 2h 2h", "2h", "here for 2h", "here for 2h"},
	})
	// What else is wrong is named first; two durations, or a word that
	// is no duration, are not one written twice.
	for _, tt := range []struct{ in, want string }{
		{"grant @ana deployer acounting for 2h 2h", `unknown app "acounting"`},
		{"grant @ana deployer accounting for 2h 3h", `"for" takes one duration, and "2h" and "3h" are two`},
		{"here for 2x 2x", `"for DURATION" goes last`},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if got.Kind != Reply || !strings.Contains(got.Reply, tt.want) || strings.Contains(got.Reply, "written twice") {
			t.Errorf("Parse(%q): got %v %q, want a reply containing %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
}
