package commands

import (
	"strings"
	"testing"
	"time"
)

// TestLockForEmptyQuoted: `lock deploys web for "" db` took the empty
// quoted word for a word of the reason, and locked until unlock with the
// reason "for  db": a duration left blank, read as a lock that never
// expires. A quoted duration stays words of the reason, as quoting means.
func TestLockForEmptyQuoted(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		refused  bool
		reason   string
		for_     time.Duration
	}{
		{"first", `lock deploys accounting for "" db`, true, "", 0},
		{"first, env", `lock deploys accounting production for '' db migration`, true, "", 0},
		{"every app", `lock deploys for "" db`, true, "", 0},
		{"last", `lock deploys accounting db migration for ""`, true, "", 0},
		{"alone", `lock deploys accounting for ""`, true, "", 0},
		{"quoted duration", `lock deploys accounting for "2h" db`, false, "for 2h db", 0},
		{"duration", `lock deploys accounting for 2h db`, false, "db", 2 * time.Hour},
		{"empty word elsewhere", `lock deploys accounting db "" work`, false, "db  work", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if tt.refused {
				const want = `"for" needs a duration, not an empty quoted word`
				if got.Kind != Reply || !strings.Contains(got.Reply, want) {
					t.Errorf("Parse(%q): got %v %q reason %q, want a reply containing %q", tt.in, got.Kind, got.Reply, got.Cmd.Reason, want)
				}
				return
			}
			if got.Kind != Run || got.Cmd.Reason != tt.reason || got.Cmd.For != tt.for_ {
				t.Errorf("Parse(%q): got %v reason %q for %v (%s), want run reason %q for %v", tt.in, got.Kind, got.Cmd.Reason, got.Cmd.For, got.Reply, tt.reason, tt.for_)
			}
		})
	}
}
