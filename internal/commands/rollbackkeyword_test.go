package commands

import "testing"

// TestRollbackTextQuotesKeywordBuild: a rollback to a build named "to"
// was written `rollback accounting production to to from 12` in its
// Text, which, sent again by a chat button or read from the audit log,
// is refused as "to" written twice. A build named as a keyword of
// rollback is now quoted in Text, as deploy quotes it.
func TestRollbackTextQuotesKeywordBuild(t *testing.T) {
	for _, in := range []string{
		`rollback accounting to "to" from 12`,
		`rollback accounting production to "to"`,
		`rollback accounting to "from" from 12`,
		`rollback accounting to 12 from "to"`,
		`rollback accounting from "from"`,
	} {
		t.Run(in, func(t *testing.T) {
			first := Parse(in, testCat(), Options{})
			if first.Kind != Run {
				t.Fatalf("Parse(%q): got %v %q, want a run", in, first.Kind, first.Reply)
			}
			again := Parse(first.Cmd.Text, testCat(), Options{})
			if again.Kind != Run || again.Cmd != first.Cmd {
				t.Errorf("Parse(%q), the Text of %q: got %v %+v (%s), want %+v", first.Cmd.Text, in, again.Kind, again.Cmd, again.Reply, first.Cmd)
			}
		})
	}
}
