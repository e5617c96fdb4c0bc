package commands

import (
	"strings"
	"testing"
)

// TestUnknownFlagWithAValue: the word after a flag the bot does not know
// is most likely its value; refused as an "unexpected word", the reply
// named that word and not the flag, which is what was wrong.
func TestUnknownFlagWithAValue(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // in the reply
	}{
		{"short force with a quoted reason", `deploy accounting 1 -f "INC-42 hotfix"`, `unknown flag "-f"; deploy takes --dry-run and --force`},
		{"short force with a word", "deploy accounting 1 -f INC-42", `unknown flag "-f"; deploy takes --dry-run and --force`},
		{"short force after a reason", "deploy accounting 1 --force INC-42 -f again", `unknown flag "-f"; deploy takes --dry-run and --force`},
		{"flag before the build", "deploy accounting -f INC-42 1", `unknown flag "-f"`},
		{"flag of a command without flags", "status accounting --force INC-42", `unknown flag "--force"; status takes no flags`},
		{"value flag on rollback", "rollback accounting --reason db", `unknown flag "--reason"; rollback takes no flags`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply {
				t.Fatalf("Parse(%q): got kind %v (%q), want reply", tt.in, got.Kind, got.Cmd.Text)
			}
			if !strings.Contains(got.Reply, tt.want) {
				t.Errorf("Parse(%q):\ngot reply %q\nwant it to contain %q", tt.in, got.Reply, tt.want)
			}
		})
	}
}
