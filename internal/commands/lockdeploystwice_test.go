package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockDeploysWrittenTwice: "lock deploys deploys accounting db" locked
// every app with the reason "deploys accounting db", a lock of more than
// was asked, as no app is named "deploys". It is refused as written twice;
// a quoted reason still starts with the word. So is "lock deploys
// accounting deploys production db", which locked every env of
// accounting with the reason "deploys production db".
func TestLockDeploysWrittenTwice(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"before the app", "lock deploys deploys accounting db",
			`"deploys" is written twice; write it once: lock deploys accounting db`},
		{"any case", "lock deploys Deploys accounting production for 2h db",
			`"deploys" is written twice; write it once: lock deploys accounting production for 2h db`},
		{"after the app", "lock deploys accounting deploys production db",
			`"deploys" is written twice; write it once: lock deploys accounting production db, or, to start the reason with "deploys", quote it: lock deploys accounting "…"`},
		{"after the env", "lock deploys accounting production deploys for 2h db",
			`"deploys" is written twice; write it once: lock deploys accounting production for 2h db, or`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			got.Reply = suggest.Strip(got.Reply) // the text people read
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q app %q reason %q, want a reply starting %q", tt.in, got.Kind, got.Reply, got.Cmd.App, got.Cmd.Reason, tt.want)
			}
		})
	}
	in := `lock deploys accounting "deploys production db"`
	if got := Parse(in, testCat(), Options{}); got.Kind != Run || got.Cmd.Env != "" || got.Cmd.Reason != "deploys production db" {
		t.Errorf("Parse(%q): got %v env %q reason %q (%s), want a run locking every env of accounting", in, got.Kind, got.Cmd.Env, got.Cmd.Reason, got.Reply)
	}
	in = `lock deploys "deploys accounting db"`
	if got := Parse(in, testCat(), Options{}); got.Kind != Run || got.Cmd.App != "" || got.Cmd.Reason != "deploys accounting db" {
		t.Errorf("Parse(%q): got %v app %q reason %q (%s), want a run locking every app", in, got.Kind, got.Cmd.App, got.Cmd.Reason, got.Reply)
	}
}
