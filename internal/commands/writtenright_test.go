package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestWrittenRightKeepsQuotes: the command written right that a reply
// offers dropped the quotes the user wrote, so that sending it did
// something else: `lock deploys deploys accounting "production db"` was
// answered with "lock deploys accounting production db", which locks
// accounting's production alone where every env of it was meant, and
// `deploy accounting "to" to to production` with "deploy accounting to to
// production", which has no build. Each part is now written as it was,
// and the command offered, parsed again, is the one meant.
func TestWrittenRightKeepsQuotes(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		// fixed is the command written right the reply must offer, and
		// want the Text of the command it parses to.
		fixed, want string
	}{
		{"lock reason quoted", `lock deploys deploys accounting "production db"`,
			`lock deploys accounting "production db"`, `lock deploys accounting "production db"`},
		{"lock reason with for", `lock deploys deploys accounting "for 2h db"`,
			`lock deploys accounting "for 2h db"`, `lock deploys accounting "for 2h db"`},
		{"lock reason unquoted", `lock deploys deploys accounting for 2h db migration`,
			`lock deploys accounting for 2h db migration`, `lock deploys accounting for 2h "db migration"`},
		{"deploy build to", `deploy accounting "to" to to production`,
			`deploy accounting "to" to production`, `deploy accounting "to" to production`},
		{"deploy env named again, build to", `deploy accounting "to" to production to production`,
			`deploy accounting "to" to production`, `deploy accounting "to" to production`},
		{"rollback to to, build from", `rollback accounting to to "from"`,
			`rollback accounting to "from"`, ``},
		{"rollback from from, build to", `rollback accounting production from from "to"`,
			`rollback accounting production from "to"`, ``},
		{"train board to to, build on", `train board accounting "on" to to production on daily`,
			`train board accounting "on" to production on daily`, `train board accounting "on" to production on daily`},
		{"train board which train, build on", `train board accounting "on"`,
			`train board accounting "on" on daily`, `train board accounting "on" on daily`},
		{"train board on on, build to", `train board accounting "to" on on daily`,
			`train board accounting "to" on daily`, `train board accounting "to" on daily`},
		{"unlock with quoted words", `unlock deploys "accounting" deploys "production"`,
			`unlock deploys "accounting" "production"`, `unlock deploys accounting production`},
		{"grant without for", `grant @ana deployer "accounting" 2h`,
			`grant @ana deployer "accounting" for 2h`, `grant @ana deployer accounting for 2h`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			// The text people read: a suggestion's marks aside.
			reply := suggest.Strip(got.Reply)
			at := strings.Index(reply, " "+tt.fixed)
			if got.Kind != Reply || at < 0 {
				t.Fatalf("Parse(%q): got %v %q, want a reply offering %q", tt.in, got.Kind, reply, tt.fixed)
			}
			if end := reply[at+1+len(tt.fixed):]; end != "" && !strings.ContainsAny(end[:1], ";,\n") && !strings.HasPrefix(end, " (") {
				t.Fatalf("Parse(%q): got %q, want %q offered whole", tt.in, reply, tt.fixed)
			}
			again := Parse(tt.fixed, testCat(), Options{})
			switch {
			case again.Kind != Run:
				t.Errorf("Parse(%q), offered for %q: got %v %q, want a run", tt.fixed, tt.in, again.Kind, again.Reply)
			case tt.want != "" && again.Cmd.Text != tt.want:
				t.Errorf("Parse(%q), offered for %q: got %q, want %q", tt.fixed, tt.in, again.Cmd.Text, tt.want)
			}
		})
	}
}
