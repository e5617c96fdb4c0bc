package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestForDurationsTwoOutOfRange: "grant @ana deployer accounting for
// 100d 100d" and "here for 100d 100d" were answered `"for DURATION" goes
// last`, which it is: the duration is written twice, and out of range.
// Two durations after one "for" are named so, as lock names them; a
// command is offered only with one in range.
func TestForDurationsTwoOutOfRange(t *testing.T) {
	for _, tt := range []struct {
		name, in, want, run string
	}{
		{"grant, twice, too long", "grant @ana deployer accounting for 100d 100d",
			`"100d" is written twice, and grant takes a duration from 1m to 90d: write one such, once`, ""},
		{"here, twice, too long", "here for 100d 100d",
			`"100d" is written twice, and here takes a duration from 1m to 90d: write one such, once`, ""},
		{"here, twice, zero", "here for 0m 0m",
			`"0m" is written twice, and here takes a duration from 1m to 90d: write one such, once`, ""},
		{"grant, two, too long", "grant @ana deployer accounting for 100d 200d",
			`"for" takes one duration, and "100d" and "200d" are two, neither of which grant takes: write one from 1m to 90d`, ""},
		{"grant, first too long", "grant @ana deployer accounting for 100d 2h",
			`"for" takes one duration, and "100d" and "2h" are two: write one, e.g. ` + suggest.Command("grant @ana deployer accounting for 2h"),
			"grant @ana deployer accounting for 2h"},
		{"here, two in range", "here for 2h 3h",
			`"for" takes one duration, and "2h" and "3h" are two: write one, e.g. ` + suggest.Command("here for 2h"),
			"here for 2h"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkNoPlaceholderMarked(t, tt.in, got.Reply)
			marked := 0
			suggest.Rewrite(got.Reply, func(cmd string) string {
				marked++
				if back := Parse(cmd, testCat(), Options{}); back.Kind != Run || back.Cmd.Text != tt.run {
					t.Errorf("Parse(%q), offered: got %v %q (%s), want a run of %q", cmd, back.Kind, back.Cmd.Text, back.Reply, tt.run)
				}
				return cmd
			})
			if tt.run == "" && marked > 0 {
				t.Errorf("Parse(%q): got %q, want no command marked", tt.in, got.Reply)
			}
		})
	}
}
