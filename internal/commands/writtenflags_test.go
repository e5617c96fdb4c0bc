package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestWrittenRightKeepsFlags: "deploy accounting 1337 to to production
// --dry-run" was answered with "deploy accounting 1337 to production" as
// the command written right, which, sent as it stood, deployed for real;
// a --force reason was dropped too. The command offered now keeps the
// flags, and parsed again is the one meant.
func TestWrittenRightKeepsFlags(t *testing.T) {
	for _, tt := range []struct {
		name, in, fixed string
	}{
		{"dry run after", "deploy accounting 1337 to to production --dry-run",
			"deploy accounting 1337 to production --dry-run"},
		{"dry run before the env named again", "deploy accounting 1337 --dry-run to production to production",
			"deploy accounting 1337 to production --dry-run"},
		{"force quoted", `deploy accounting 1337 --force "INC 42" to to production`,
			`deploy accounting 1337 to production --force "INC 42"`},
		{"both", `deploy accounting 1337 to to staging --force=INC-42 --dry-run`,
			`deploy accounting 1337 to staging --dry-run --force "INC-42"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.Contains(got.Reply, "write it once: "+suggest.Command(tt.fixed)) {
				t.Fatalf("Parse(%q): got %v %q, want a reply offering %q", tt.in, got.Kind, got.Reply, tt.fixed)
			}
			again := Parse(tt.fixed, testCat(), Options{})
			if again.Kind != Run || again.Cmd.Text != tt.fixed {
				t.Errorf("Parse(%q), offered for %q: got %v %q (%s), want a run of it", tt.fixed, tt.in, again.Kind, again.Cmd.Text, again.Reply)
			}
		})
	}
}
