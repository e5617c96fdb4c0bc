package commands

import (
	"strings"
	"testing"
)

// TestForceWithoutReasonAndSlip: "deploy accounting 1337 1337 to staging
// --force" was answered that --force needs a reason, and the build written
// twice went unnamed, to be refused once the reason was given. Both are
// named now; no command is offered, as the reason is the user's to write.
func TestForceWithoutReasonAndSlip(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"build twice", "deploy accounting 1337 1337 to staging --force",
			`"1337" is written twice; write it once, and --force needs a reason, e.g. --force "INC-42 hotfix"`},
		{"env twice", "deploy accounting 1337 to staging staging --force",
			`"staging" is written twice; write it once, and --force needs a reason, e.g. --force "INC-42 hotfix"`},
		{"nothing else wrong", "deploy accounting 1337 to staging --force",
			`--force needs a reason, e.g. --force "INC-42 hotfix"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want+"\n") {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, "")
		})
	}
}
