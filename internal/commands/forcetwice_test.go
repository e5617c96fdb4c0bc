package commands

import (
	"strings"
	"testing"
)

// TestForceWrittenTwice: "--force "db migration" --force "db migration""
// and "--force --force "db migration"" were answered "--force is given
// twice; give it once", or that --force needs a reason, with no command to
// send, where --dry-run written twice is answered with the command
// written right. The same reason twice, or the flag twice in a row before
// its reason, is named written twice now, with the command holding it
// once.
func TestForceWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"same quoted reason", `deploy accounting 1337 --force "db migration" --force "db migration"`, "--force",
			`deploy accounting 1337 --force "db migration"`, `deploy accounting 1337 to production --force "db migration"`},
		{"same bare reason", "deploy accounting 1337 --force hotfix --force hotfix", "--force",
			"deploy accounting 1337 --force hotfix", `deploy accounting 1337 to production --force "hotfix"`},
		{"in a row", `deploy accounting 1337 to staging --force --force "db migration"`, "--force",
			`deploy accounting 1337 to staging --force "db migration"`, `deploy accounting 1337 to staging --force "db migration"`},
		{"any case", `deploy accounting 1337 --force "a" --FORCE "a"`, "--force",
			`deploy accounting 1337 --force "a"`, `deploy accounting 1337 to production --force "a"`},
		{"dry-run kept", `deploy accounting 1337 --force "a" --dry-run --force "a"`, "--force",
			`deploy accounting 1337 --force "a" --dry-run`, `deploy accounting 1337 to production --dry-run --force "a"`},
	})
	// Two reasons are two values, of which the reply cannot pick one; a
	// --force with no reason at all still needs one.
	for _, tt := range []struct{ in, want string }{
		{`deploy accounting 1337 --force "a" --force "b"`, "--force is given twice; give it once"},
		{`deploy accounting 1337 --force "a" --force`, "--force is given twice; give it once"},
		{"deploy accounting 1337 --force --dry-run", "--force needs a reason"},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
			t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
}
