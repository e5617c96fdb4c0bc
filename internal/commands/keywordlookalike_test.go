package commands

import (
	"strings"
	"testing"
)

// TestLookalikeKeyword: a keyword of the grammar written with look-alike
// characters ("tо" with a Cyrillic о) was refused as an "unexpected word",
// or as an unknown env, that reads exactly like the word the grammar
// wants; the reply now says which characters differ, as it does of apps,
// envs and commands.
func TestLookalikeKeyword(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // in the reply
	}{
		{"deploy to", "deploy accounting 1 t\u043e staging", "\"t\u043e\" looks like \"to\" but is written with other characters ('\u043e' U+043E)"},
		{"deploy full-width to", "deploy accounting 1 \uff54\uff4f staging", `looks like "to" but is written with other characters`},
		{"rollback to after env", "rollback accounting staging t\u043e 12", `looks like "to"`},
		{"rollback to in the env's place", "rollback accounting t\u043e 12", `looks like "to"`},
		{"rollback from", "rollback accounting staging to 12 fr\u043em 13", `looks like "from"`},
		{"train board on", "train board accounting 1 \u043en daily", `looks like "on"`},
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
