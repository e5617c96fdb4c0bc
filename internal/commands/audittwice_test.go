package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestAuditNWrittenTwice: "audit 5 5" was answered `unknown app "5"`,
// the first N looked up as an app. N written twice is now named so, as
// history names it, with the command written right.
func TestAuditNWrittenTwice(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"no app", "audit 5 5",
			`N is written twice ("5" and "5"); write it once, last: ` + suggest.Command("audit 5")},
		{"two Ns", "audit 5 7",
			`N is written twice ("5" and "7"); write it once, last: ` + suggest.Command("audit 7")},
		{"after the app", "audit accounting 5 5",
			`N is written twice ("5" and "5"); write it once, last: ` + suggest.Command("audit accounting 5")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
	// An app named "5" is still one.
	cat := testCat()
	cat.envs["5"] = []string{"production"}
	if got := Parse("audit 5 5", cat, Options{}); got.Kind != Run || got.Cmd.App != "5" || got.Cmd.N != 5 {
		t.Errorf(`Parse("audit 5 5") with an app 5: got %v app %q N %d (%s), want a run`, got.Kind, got.Cmd.App, got.Cmd.N, got.Reply)
	}
}
