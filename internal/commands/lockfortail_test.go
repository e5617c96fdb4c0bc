package commands

import (
	"strings"
	"testing"
	"time"
)

// TestLockReasonEndingWithFor: "lock deploys web db migration for" took
// the bare "for" as the last word of the reason, and locked until unlock:
// a lock meant to expire, whose duration was left out, that never did.
func TestLockReasonEndingWithFor(t *testing.T) {
	refused := []string{
		"lock deploys accounting db migration for",
		"lock deploys accounting production db for",
		"lock deploys db for",
		"lock deploys accounting db migration FOR",
	}
	for _, in := range refused {
		t.Run(in, func(t *testing.T) {
			got := Parse(in, testCat(), Options{})
			if got.Kind != Reply {
				t.Fatalf("Parse(%q): got kind %v (%q), want reply", in, got.Kind, got.Cmd.Text)
			}
			const want = `"for" at the end of the reason needs a duration after it`
			if !strings.Contains(got.Reply, want) {
				t.Errorf("Parse(%q):\ngot reply %q\nwant it to contain %q", in, got.Reply, want)
			}
		})
	}
	runs := []struct {
		in     string
		reason string
		for_   time.Duration
	}{
		{`lock deploys accounting "db migration for"`, "db migration for", 0},
		{`lock deploys accounting for 2h "waiting for"`, "waiting for", 2 * time.Hour},
		{"lock deploys accounting db migration for 2h", "db migration", 2 * time.Hour},
	}
	for _, tt := range runs {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Run || got.Cmd.Reason != tt.reason || got.Cmd.For != tt.for_ {
				t.Errorf("Parse(%q): got %v reason %q for %v (%s), want run reason %q for %v", tt.in, got.Kind, got.Cmd.Reason, got.Cmd.For, got.Reply, tt.reason, tt.for_)
			}
		})
	}
}
