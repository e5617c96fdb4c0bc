package commands

import (
	"strings"
	"testing"
	"time"
)

// TestLockEmptyQuotedWord: `lock deploys accounting "" db` dropped the
// empty quoted word and locked every env of accounting with the reason
// "db": an env left blank, read as a lock of more than was asked. An
// empty quoted word that starts or ends the reason is refused too, as it
// was dropped the same way; inside the reason it stays.
func TestLockEmptyQuotedWord(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     string // a refusal containing it, or "" to run
		reason   string
		env      string
		for_     time.Duration
	}{
		{"env left blank", `lock deploys accounting "" db`, `an empty quoted word stands where the env or the reason goes: name the env (lock deploys accounting ENV …)`, "", "", 0},
		{"env left blank, single quotes", `lock deploys accounting '' db migration`, `where the env or the reason goes`, "", "", 0},
		{"nothing but an empty word", `lock deploys accounting ""`, `a lock must say why`, "", "", 0},
		{"app left blank", `lock deploys "" db`, `an empty quoted word stands where the app or the reason goes`, "", "", 0},
		{"after the env", `lock deploys accounting production "" db`, `an empty quoted word cannot start or end the reason`, "", "", 0},
		{"after for", `lock deploys accounting for 2h "" db`, `cannot start or end the reason`, "", "", 0},
		{"before for", `lock deploys accounting production "" for 2h db`, `cannot start or end the reason`, "", "", 0},
		{"last", `lock deploys accounting production db ""`, `cannot start or end the reason`, "", "", 0},
		{"last, before a trailing for", `lock deploys accounting db "" for 2h`, `cannot start or end the reason`, "", "", 0},
		{"inside the reason", `lock deploys accounting db "" work`, "", "db  work", "", 0},
		{"quoted reason", `lock deploys accounting "db work"`, "", "db work", "", 0},
		{"env and duration", `lock deploys accounting production for 2h db`, "", "db", "production", 2 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if tt.want != "" {
				if got.Kind != Reply || !strings.Contains(got.Reply, tt.want) {
					t.Errorf("Parse(%q): got %v %q reason %q env %q, want a reply containing %q", tt.in, got.Kind, got.Reply, got.Cmd.Reason, got.Cmd.Env, tt.want)
				}
				return
			}
			if got.Kind != Run || got.Cmd.Reason != tt.reason || got.Cmd.Env != tt.env || got.Cmd.For != tt.for_ {
				t.Errorf("Parse(%q): got %v reason %q env %q for %v (%s), want run reason %q env %q for %v", tt.in, got.Kind, got.Cmd.Reason, got.Cmd.Env, got.Cmd.For, got.Reply, tt.reason, tt.env, tt.for_)
			}
		})
	}
}
