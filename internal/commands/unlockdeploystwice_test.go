package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestUnlockDeploysWrittenTwice: "unlock deploys deploys accounting" was
// answered `unknown app "deploys"`, where lock names the same slip as
// "deploys" written twice. Unlock now answers as lock does, also when the
// second "deploys" follows the app or the env ("unlock deploys accounting
// deploys" was answered unknown env "deploys").
func TestUnlockDeploysWrittenTwice(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"before the app", "unlock deploys deploys accounting",
			`"deploys" is written twice; write it once: unlock deploys accounting`},
		{"with the env, any case", "unlock deploys DEPLOYS accounting production",
			`"deploys" is written twice; write it once: unlock deploys accounting production`},
		{"alone", "unlock deploys deploys",
			`"deploys" is written twice; write it once: unlock deploys`},
		{"after the app", "unlock deploys accounting deploys",
			`"deploys" is written twice; write it once: unlock deploys accounting`},
		{"after the env", "unlock deploys accounting production deploys",
			`"deploys" is written twice; write it once: unlock deploys accounting production`},
		{"between the app and the env", "unlock deploys accounting deploys production",
			`"deploys" is written twice; write it once: unlock deploys accounting production`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			got.Reply = suggest.Strip(got.Reply) // the text people read
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
