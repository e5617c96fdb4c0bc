package commands

import (
	"strings"
	"testing"
)

// TestStrayWordAfterN: "history web prod 5 extra" was refused as
// `unexpected word "5"`, sending the user to fix the N they had written
// right; the stray word is the one after it. The same held for audit's N
// and stats' window.
func TestStrayWordAfterN(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"history", "history accounting production 5 extra", `unexpected word "extra"`},
		{"history, two more", "history accounting production 5 extra more", `unexpected word "extra"`},
		{"history without env", "history accounting 5 extra", `unexpected word "extra"`},
		{"history, a word after the env", "history accounting production extra", `unexpected word "extra"`},
		{"audit", "audit accounting 5 extra", `unexpected word "extra"`},
		{"audit, two more", "audit accounting 5 extra more", `unexpected word "extra"`},
		{"stats", "stats accounting production 30d extra", `unexpected word "extra"`},
		{"stats without env", "stats accounting 30d extra", `unexpected word "extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want+"\n") {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
