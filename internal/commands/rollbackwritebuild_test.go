package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestRollbackToBuildWritten: the reply that asks for "to" before a build
// wrote the build bare, so that a build named "from", sent as suggested,
// would read as the keyword. The command it suggests now writes each part
// as it was written, quoted where it was quoted.
func TestRollbackToBuildWritten(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"in the env's place", `rollback accounting "from"`,
			`unknown env "from" for accounting; known envs: production, staging; to roll back to a build, write "to": ` + suggest.Command(`rollback accounting to "from"`)},
		{"quoted app", `rollback "accounting" 1336`,
			`unknown env "1336" for accounting; known envs: production, staging; to roll back to a build, write "to": ` + suggest.Command(`rollback "accounting" to 1336`)},
		{"after the env", `rollback accounting staging "from"`,
			`unexpected word "from"; to roll back to a build, write "to": ` + suggest.Command(`rollback accounting staging to "from"`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			// Sent as suggested, it rolls back to the build named.
			fixed := tt.want[strings.LastIndex(tt.want, ": ")+2:]
			if again := Parse(suggest.Strip(fixed), testCat(), Options{}); again.Kind != Run || again.Cmd.Build == "" {
				t.Errorf("Parse(%q): got %v build %q (%s), want a run to a build", suggest.Strip(fixed), again.Kind, again.Cmd.Build, again.Reply)
			}
		})
	}
}
