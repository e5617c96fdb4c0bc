package commands

import (
	"strings"
	"testing"
)

// TestFlagWrittenTwice: "deploy accounting 1337 --dry-run --dry-run" was
// answered "--dry-run is given twice; give it once", with no command to
// send, where every other word written twice is answered with the
// command written right. A flag without a value written twice is named
// so now, with the rest of the command kept as written.
func TestFlagWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"in a row", "deploy accounting 1337 --dry-run --dry-run", "--dry-run",
			"deploy accounting 1337 --dry-run", "deploy accounting 1337 to production --dry-run"},
		{"apart, env kept", "deploy --dry-run accounting 1337 to staging --dry-run", "--dry-run",
			"deploy --dry-run accounting 1337 to staging", "deploy accounting 1337 to staging --dry-run"},
		{"any case", "deploy accounting 1337 --dry-run --DRY-RUN", "--dry-run",
			"deploy accounting 1337 --dry-run", "deploy accounting 1337 to production --dry-run"},
		{"three times", "deploy accounting 1337 --dry-run --dry-run --dry-run", "--dry-run",
			"deploy accounting 1337 --dry-run", "deploy accounting 1337 to production --dry-run"},
		{"force kept", `deploy accounting 1337 --dry-run --force "db migration" --dry-run`, "--dry-run",
			`deploy accounting 1337 --dry-run --force "db migration"`, `deploy accounting 1337 to production --dry-run --force "db migration"`},
	})
	// What else is wrong is named with it: the command without the
	// second writing would be refused too. A value flag given twice gives
	// two values, of which the reply cannot pick one.
	for _, tt := range []struct{ in, want string }{
		{"deploy nope 1337 --dry-run --dry-run", `"--dry-run" is written twice; write it once, and unknown app "nope"`},
		{`deploy accounting 1337 --force "a" --force "b"`, "--force is given twice; give it once"},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
			t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
}
