package commands

import (
	"strings"
	"testing"
)

// TestForWrittenTwice: "here for 2h for 2h" and "here for for 2h" were
// answered `"for" is written twice; write "for DURATION" once, last, e.g.
// here for 2h`, an example rather than the command to send, and the
// second `"for" needs a duration` after its duration was given. Grant
// and here name the "for" written twice now, with the command written
// right.
func TestForWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"here, whole", "here for 2h for 2h", "for", "here for 2h", "here for 2h"},
		{"here, in a row", "here FOR for 2h", "for", "here FOR 2h", "here for 2h"},
		{"grant, whole", "grant @ana deployer accounting for 1d for 1D", "for",
			"grant @ana deployer accounting for 1d", "grant @ana deployer accounting for 1d"},
		{"grant, in a row", "grant @ana deployer accounting production for for 2h", "for",
			"grant @ana deployer accounting production for 2h", "grant @ana deployer accounting production for 2h"},
	})
	// Two durations are not one written twice, and with an app named
	// "for" grant's "for for 2h" grants it.
	if got := Parse("here for 2h for 3h", testCat(), Options{}); got.Kind != Reply || !strings.HasPrefix(got.Reply, `"for" is written twice; write "for DURATION" once, last`) {
		t.Errorf(`Parse("here for 2h for 3h"): got %v %q, want a reply asking for one "for DURATION"`, got.Kind, got.Reply)
	}
	cat := testCat()
	cat.envs["for"] = []string{"production"}
	if got := Parse("grant @ana deployer for for 2h", cat, Options{}); got.Kind != Run || got.Cmd.App != "for" {
		t.Errorf(`Parse("grant @ana deployer for for 2h") with an app for: got %v app %q (%s), want a grant of it`, got.Kind, got.Cmd.App, got.Reply)
	}
}
