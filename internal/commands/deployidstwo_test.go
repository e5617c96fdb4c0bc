package commands

import (
	"strings"
	"testing"
)

// TestDeployIDsTwoNamed: "deploy confirm ID1 ID2" was answered with the
// second id as an unexpected word, where every other command that is
// given two values for one slot names both. Both ids are named now, with
// no command offered: confirming or aborting a guess is a deploy nobody
// asked for.
func TestDeployIDsTwoNamed(t *testing.T) {
	const other = "20261124-090000-c36b1b"
	for _, tt := range []struct{ name, in, want string }{
		{"confirm", "deploy confirm " + deployID + " " + other,
			`two deploy ids are named, "` + deployID + `" and "` + other + `": send the deploy confirm again with the one you mean`},
		{"abort", "deploy abort " + deployID + " " + other,
			`two deploy ids are named, "` + deployID + `" and "` + other + `": send the deploy abort again with the one you mean`},
		{"a word after them", "deploy confirm " + deployID + " " + other + " please",
			`two deploy ids are named, "` + deployID + `" and "` + other + `": send the deploy confirm again with the one you mean`},
		{"a word, not an id", "deploy confirm " + deployID + " please", `unexpected word "please"`},
		{"quoted word shaped as an id", "deploy confirm " + deployID + ` "` + other + `"`, `unexpected word "` + other + `"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, "")
		})
	}
}
