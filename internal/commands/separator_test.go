package commands

import (
	"strings"
	"testing"
)

// TestSeparatorRefused: a lone "--", the end of flags in a shell, was read
// as a name: "deploy -- accounting 1337" answered `unknown app "--"` and
// "status accounting --" a plain `unexpected word "--"`, neither saying
// the word itself has no place. No command takes one, so it does not end
// the flags either: "deploy … -- --force" is refused, not run. Inside a
// --force or lock reason it stays a word of the reason.
func TestSeparatorRefused(t *testing.T) {
	const want = `"--" means nothing here: commands take no "--" separator`
	for _, tt := range []struct {
		name, in, want string
	}{
		{"app's place", "deploy -- accounting 1337", want},
		{"after the app", "status accounting --", want},
		{"build's place", "deploy accounting -- 1337", want},
		{"after the target", "deploy accounting 1337 to production --", want},
		{"before a flag", "deploy accounting 1337 -- --force INC-42", want},
		{"env's place", "history accounting --", want},
		{"rollback to", "rollback accounting to --", want},
		{"rollback from", "rollback accounting from --", want},
		{"train board build", "train board accounting -- on daily", want},
		{"grant", "grant @ana deployer --", want},
		{"em dash", "status accounting \u2014", "\"\u2014\" means nothing here"},
		{"three dashes", "status accounting ---", `"---" means nothing here`},
		{"one dash is a word", "status accounting -", `unexpected word "-"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		in, force, reason string
	}{
		{"deploy accounting 1337 --force INC-42 -- db", "INC-42 -- db", ""},
		{"lock deploys accounting production db -- api", "", "db -- api"},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if got.Kind != Run || got.Cmd.Force != tt.force || got.Cmd.Reason != tt.reason {
			t.Errorf("Parse(%q): got %v force %q reason %q (%s), want a run with force %q reason %q", tt.in, got.Kind, got.Cmd.Force, got.Cmd.Reason, got.Reply, tt.force, tt.reason)
		}
	}
}
