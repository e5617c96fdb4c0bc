package commands

import (
	"strings"
	"testing"
	"time"
)

// forCat has an app named "for", beside one that is not.
func forCat() testCatalog {
	return testCatalog{
		envs:     map[string][]string{"accounting": {"production", "staging"}, "for": {"production", "staging"}},
		defaults: map[string]string{"accounting": "production", "for": "production"},
	}
}

// TestAppNamedForByPosition: with an app named "for", the parsers of lock,
// grant and revoke took every "for" for the app, so that "lock deploys for
// for 2h db" was refused as a lock of two apps, the Text of a timed lock of
// the app (`lock deploys for for 2h "db"`) did not parse again, and a
// "for" with its duration left out was refused as an unknown env. The app
// is the word in the app's place; a "for" after it is the keyword.
func TestAppNamedForByPosition(t *testing.T) {
	runs := []struct {
		in     string
		app    string
		env    string
		reason string
		for_   time.Duration
	}{
		{"lock deploys for for 2h db migration", "for", "", "db migration", 2 * time.Hour},
		{"lock deploys for production for 2h db migration", "for", "production", "db migration", 2 * time.Hour},
		{"lock deploys for db migration for 2h", "for", "", "db migration", 2 * time.Hour},
		{"lock deploys for db migration", "for", "", "db migration", 0},
		{"lock deploys for for db", "for", "", "for db", 0},
		{"lock deploys db for 2h", "", "", "db", 2 * time.Hour},
		// "for 2h" in the app's place is the duration, as grant reads it
		// and as the Text of a timed lock of every app writes it.
		{"lock deploys for 2h db migration", "", "", "db migration", 2 * time.Hour},
		{`lock deploys for "2h db migration"`, "for", "", "2h db migration", 0},
		{"grant @ana deployer for for 2h", "for", "", "", 2 * time.Hour},
		{"grant @ana deployer for 2h", "", "", "", 2 * time.Hour},
	}
	for _, tt := range runs {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, forCat(), Options{})
			c := got.Cmd
			if got.Kind != Run || c.App != tt.app || c.Env != tt.env || c.Reason != tt.reason || c.For != tt.for_ {
				t.Fatalf("Parse(%q): got %v %+v (reply %q), want run of app %q env %q reason %q for %v", tt.in, got.Kind, c, got.Reply, tt.app, tt.env, tt.reason, tt.for_)
			}
			if again := Parse(c.Text, forCat(), Options{}); again.Kind != Run || again.Cmd != c {
				t.Errorf("Parse(%q) (the Text of %q): got %v %+v (reply %q), want run %+v", c.Text, tt.in, again.Kind, again.Cmd, again.Reply, c)
			}
		})
	}
	refused := []struct{ in, want string }{
		{"lock deploys for for", `"for" needs a duration after it`},
		{"lock deploys for production for", `"for" needs a duration after it`},
		{"lock deploys for production db for", `"for" at the end of the reason needs a duration after it`},
		{"grant @ana deployer for for", `"for" needs a duration`},
		{"grant @ana deployer for production for", `"for" needs a duration`},
		{"grant @ana deployer accounting for", `"for" needs a duration`},
		{"grant @ana deployer for for 2h extra", `"for DURATION" goes last`},
		{"grant @ana deployer for production for for", `invalid duration "for"`},
		{"revoke @ana deployer for for 2h", "revoke takes no duration"},
		{"revoke @ana deployer accounting for 2h", "revoke takes no duration"},
		{"grant @ana deployer for for 2h for 1h", `"for" is written twice`},
	}
	for _, tt := range refused {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, forCat(), Options{})
			if got.Kind != Reply || !strings.Contains(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q (%q), want a reply containing %q", tt.in, got.Kind, got.Reply, got.Cmd.Text, tt.want)
			}
		})
	}
}
