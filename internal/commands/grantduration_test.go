package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestGrantDurationWithoutFor: "grant @ana deployer accounting staging 2h"
// was refused as a plain `unexpected word "2h"`, and with fewer names
// before it as an unknown env or app "2h", where "here 2h" says to write
// "for". A duration written last without "for" is now named as one: grant
// asks for the "for", revoke says it takes no duration. The command each
// offers is marked as the bot's, as other replies mark theirs, but for a
// duration out of range, which sent would be refused.
func TestGrantDurationWithoutFor(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"after the env", "grant @ana deployer accounting staging 2h",
			`write "for" before the duration: ` + suggest.Command("grant @ana deployer accounting staging for 2h")},
		{"in the env's place", "grant @ana deployer accounting 2h",
			`write "for" before the duration: ` + suggest.Command("grant @ana deployer accounting for 2h")},
		{"in the app's place", "grant @ana deployer 2h",
			`write "for" before the duration: ` + suggest.Command("grant @ana deployer for 2h")},
		{"too long is still a duration", "grant @ana deployer accounting 100d",
			`write "for" before the duration: grant @ana deployer accounting for 100d`},
		{"revoke after the env", "revoke @ana deployer accounting staging 2h",
			`revoke takes no duration ("2h"): it takes the role back now, however long the grant had left: ` + suggest.Command("revoke @ana deployer accounting staging")},
		{"revoke in the app's place", "revoke @ana deployer 1d",
			`revoke takes no duration ("1d"): it takes the role back now, however long the grant had left: ` + suggest.Command("revoke @ana deployer")},
		{"a bad app comes first", "grant @ana deployer acounting 2h", `unknown app "acounting"`},
		{"not a duration", "grant @ana deployer accounting staging 2x", `unexpected word "2x"`},
		{"not last", "grant @ana deployer accounting 2h staging", `unexpected word "staging"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
