package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestSlipsJoined: a reply naming several things wrong joined them as
// "…, and then …", as if the second came about once the first was
// fixed, while a --force without its reason was joined "…, and …"; a
// word written three times was named twice over ("1337" is written
// twice; write it once, and then "1337" is written twice; …), and history
// put an N out of its place in brackets after the rest. Each is joined
// one way now, "…, and …", and a slip is named once.
func TestSlipsJoined(t *testing.T) {
	for _, tt := range []struct{ name, in, want, run string }{
		{"two slips", "deploy accounting 1337 1337 production",
			`"1337" is written twice; write it once, and unexpected word "production"; write "to" before the env: ` + suggest.Command("deploy accounting 1337 to production"),
			"deploy accounting 1337 to production"},
		{"build three times", "deploy accounting 1337 1337 1337",
			`"1337" is written twice; write it once: ` + suggest.Command("deploy accounting 1337"),
			"deploy accounting 1337 to production"},
		{"build three times, env without to", "deploy accounting 1337 1337 1337 staging",
			`"1337" is written twice; write it once, and unexpected word "staging"; write "to" before the env: ` + suggest.Command("deploy accounting 1337 to staging"),
			"deploy accounting 1337 to staging"},
		{"env three times", "rollback accounting production production production",
			`"production" is written twice; write it once: ` + suggest.Command("rollback accounting production"),
			"rollback accounting production"},
		{"force without reason", "deploy accounting 1337 1337 to staging --force",
			`"1337" is written twice; write it once, and --force needs a reason, e.g. --force "INC-42 hotfix"`, ""},
		{"history, N not last", "history accounting 5 production extra",
			`unexpected word "extra", and N goes last: history accounting production N`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want+"\n") {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			if strings.Contains(got.Reply, "and then") {
				t.Errorf("Parse(%q): got %q, want the slips joined with \"and\"", tt.in, got.Reply)
			}
			checkOffersRun(t, tt.in, got.Reply, tt.run)
		})
	}
}
