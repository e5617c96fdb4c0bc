package commands

import (
	"strings"
	"testing"
)

// TestFlagWithExtraDashes: a flag typed with one dash too many, after an
// unquoted --force reason, is an unknown flag, not words of the reason:
// taken for the reason, "--force x ---dry-run" ran a forced deploy for
// real where a dry run was asked for.
func TestFlagWithExtraDashes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // in the reply
	}{
		{"three dashes after a reason", "deploy accounting 1 --force INC-42 ---dry-run", `unknown flag "---dry-run"; did you mean --dry-run?`},
		{"three dashes alone", "deploy accounting 1 ---dry-run", `unknown flag "---dry-run"; did you mean --dry-run?`},
		{"three dashes force", "deploy accounting 1 ---force INC-42", `unknown flag "---force"; did you mean --force?`},
		{"three em dashes after a reason", "deploy accounting 1 --force INC-42 \u2014\u2014\u2014dry-run", `did you mean --dry-run?`},
		{"mixed dashes after a reason", "deploy accounting 1 --force INC-42 --\u2013dry-run", `did you mean --dry-run?`},
		{"three dashes help", "deploy accounting 1 --force INC-42 ---help", `unknown flag "---help"`},
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
	// Dashes with no letter after them are still words of a reason.
	for _, in := range []string{"deploy accounting 1 --force db -> api --- 2 ---"} {
		if got := Parse(in, testCat(), Options{}); got.Kind != Run || got.Cmd.Force != "db -> api --- 2 ---" {
			t.Errorf("Parse(%q): got %v %q, want a run with the whole reason", in, got.Kind, got.Cmd.Force)
		}
	}
}
