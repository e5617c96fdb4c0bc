package commands

import (
	"strings"
	"testing"
	"time"
)

// TestGrantHereForEmptyQuoted: `grant @ana deployer accounting for ""`
// and `here for ""` were refused as `duration "" is zero`, which no one
// typed: the duration was left blank. They are refused as lock's `for ""`
// is.
func TestGrantHereForEmptyQuoted(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		refused  bool
		omitFor  string
		for_     time.Duration
	}{
		{"grant", `grant @ana deployer accounting for ""`, true, `leave "for" out to grant until revoked`, 0},
		{"grant, env", `grant @ana deployer accounting production for ''`, true, `leave "for" out to grant until revoked`, 0},
		{"grant, no app", `grant @ana deployer for ""`, true, `leave "for" out to grant until revoked`, 0},
		{"here", `here for ""`, true, `leave "for" out for the default of ` + formatDuration(DefaultHereFor), 0},
		{"grant duration", `grant @ana deployer accounting for 2h`, false, "", 2 * time.Hour},
		{"here duration", `here for 30m`, false, "", 30 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if tt.refused {
				const want = `"for" needs a duration, not an empty quoted word`
				if got.Kind != Reply || !strings.Contains(got.Reply, want) || !strings.Contains(got.Reply, tt.omitFor) || strings.Contains(got.Reply, "is zero") {
					t.Errorf("Parse(%q): got %v %q, want a reply containing %q and %q", tt.in, got.Kind, got.Reply, want, tt.omitFor)
				}
				return
			}
			if got.Kind != Run || got.Cmd.For != tt.for_ {
				t.Errorf("Parse(%q): got %v for %v (%s), want run for %v", tt.in, got.Kind, got.Cmd.For, got.Reply, tt.for_)
			}
		})
	}
}
