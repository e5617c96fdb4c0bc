package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestTwoSlips: "deploy accounting 1337 1337 production" was answered
// `"1337" is written twice; write it once: deploy accounting 1337
// production`, a command refused in turn for its env without "to": the
// offer fixed one slip of two. A slip's command is parsed before it is
// offered now: refused, the reply names the slip and then what the
// command is refused for, offering only a command that fixes every slip,
// or none.
func TestTwoSlips(t *testing.T) {
	offered := []struct{ name, in, want, run string }{
		{"build twice, env without to", "deploy accounting 1337 1337 production",
			`"1337" is written twice; write it once, and unexpected word "production"; write "to" before the env: ` + suggest.Command("deploy accounting 1337 to production"),
			"deploy accounting 1337 to production"},
		{"env without to, env twice", "deploy accounting 1337 production production",
			`unexpected word "production"; write "to" before the env, and "production" is written twice; write it once: ` + suggest.Command("deploy accounting 1337 to production"),
			"deploy accounting 1337 to production"},
		{"app twice, build twice", "deploy accounting accounting 1337 1337",
			`"accounting" is written twice; write it once, and "1337" is written twice; write it once: ` + suggest.Command("deploy accounting 1337"),
			"deploy accounting 1337 to production"},
		{"build twice, to twice, flag kept", "deploy accounting 1337 1337 to to staging --dry-run",
			`"1337" is written twice; write it once, and "to" is written twice; write it once: ` + suggest.Command("deploy accounting 1337 to staging --dry-run"),
			"deploy accounting 1337 to staging --dry-run"},
		{"three slips", "deploy accounting accounting 1337 1337 to staging staging",
			`"accounting" is written twice; write it once, and "1337" is written twice; write it once, and "staging" is written twice; write it once: ` + suggest.Command("deploy accounting 1337 to staging"),
			"deploy accounting 1337 to staging"},
		{"train board, build twice, train without on", "train board accounting 1337 1337 weekly",
			`"1337" is written twice; write it once, and unexpected word "weekly"; write "on" before the train: ` + suggest.Command("train board accounting 1337 on weekly"),
			"train board accounting 1337 on weekly"},
		{"rollback, env twice, build twice", "rollback accounting production production to 1336 1336",
			`"production" is written twice; write it once, and "1336" is written twice; write it once: ` + suggest.Command("rollback accounting production to 1336"),
			"rollback accounting production to 1336"},
	}
	for _, tt := range offered {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want+"\n") {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, tt.run)
		})
	}
	// Where a slip left is not one to fix, nothing is offered, and every
	// slip is named.
	named := []struct{ name, in, want string }{
		{"build twice, env misspelt", "deploy accounting 1337 1337 to prodution",
			`"1337" is written twice; write it once, and unknown env "prodution" for accounting; did you mean "production"?`},
		{"build twice, env in another case", "deploy accounting 1337 1337 to Production",
			`"1337" is written twice; write it once, and unknown env "Production" for accounting; did you mean "production"?`},
		{"env without to, stray word", "deploy accounting 1337 production extra",
			`unexpected word "production"; write "to" before the env, and unexpected word "extra"`},
	}
	for _, tt := range named {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, "")
		})
	}
}

// checkOffersRun checks that reply, the reply to in, offers run alone,
// marked, and that it runs so when sent back; with run "", that it
// offers no command.
func checkOffersRun(t *testing.T, in, reply, run string) {
	t.Helper()
	var cmds []string
	suggest.Rewrite(reply, func(cmd string) string { cmds = append(cmds, cmd); return cmd })
	if run == "" {
		if len(cmds) > 0 {
			t.Errorf("Parse(%q): the reply %q offers %q, want no command", in, reply, cmds)
		}
		return
	}
	if len(cmds) != 1 {
		t.Fatalf("Parse(%q): the reply %q offers %q, want one command", in, reply, cmds)
	}
	if back := Parse(cmds[0], testCat(), Options{}); back.Kind != Run || back.Cmd.Text != run {
		t.Errorf("Parse(%q), offered: got %v %q (%s), want a run of %q", cmds[0], back.Kind, back.Cmd.Text, back.Reply, run)
	}
}
