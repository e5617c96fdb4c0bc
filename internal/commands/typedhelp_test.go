package commands

import (
	"slices"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
)

// TestHelpMessageNamesTypedLines: the lines of help that explain commands
// as typed (their keywords, flags and quoting, and the overview's "as
// is, after /") are named in the message, for a platform whose users
// send commands in a form of their own to leave out; every other line,
// a usage, a summary, a detail that holds there too or an example, is
// not.
func TestHelpMessageNamesTypedLines(t *testing.T) {
	tests := []struct {
		topic      string
		typed, not []string // lines holding these are named, or not
	}{
		{"", []string{"Commands (as is, after"}, []string{"deploy APP BUILD", "Details and examples of one command"}},
		{"deploy", []string{`quote the app: deploy "confirm"`}, []string{"A dry run shows", "A forced deploy", "ID is the deploy id", "deploy confirm ID"}},
		{"rollback", []string{"With from BUILD", "rollback DEPLOY-ID rolls back"}, []string{"Without ENV the app's default env"}},
		{"lock", []string{"The reason is the rest of the line"}, []string{"DURATION is like"}},
		{"train", []string{"The reason of cancel is the rest", "depart needs the word now"}, []string{"Without an env a car ships", "TRAIN is a train"}},
		{"stats", nil, []string{"WINDOW is a number"}},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			m := HelpMessage(tt.topic, testCat())
			named := func(part string) (bool, bool) {
				i := slices.IndexFunc(m.Lines, func(l string) bool { return strings.Contains(l, part) })
				return i >= 0, slices.Contains(m.Typed, i)
			}
			for _, part := range tt.typed {
				if found, typed := named(part); !found || !typed {
					t.Errorf("line with %q: found %v, named typed %v; want both (lines %q, typed %v)", part, found, typed, m.Lines, m.Typed)
				}
			}
			for _, part := range tt.not {
				if found, typed := named(part); !found || typed {
					t.Errorf("line with %q: found %v, named typed %v; want found, not typed (lines %q, typed %v)", part, found, typed, m.Lines, m.Typed)
				}
			}
		})
	}
}

// TestFormUsageInSentenceIsNamed: a refusal whose first line ends with
// the usage of a form (confirm, abort, the actions of train) names it
// there, for a platform that shows usages in a form of its own; a
// refusal's usage lines are named as before.
func TestFormUsageInSentenceIsNamed(t *testing.T) {
	const id = "20261123-124158-b25a0a"
	tests := []struct {
		in   string
		want []UsageLine
	}{
		{"confirm " + id, []UsageLine{{Line: 0, Verb: VerbConfirm, Text: "deploy confirm ID"}}},
		{"/Abort " + id, []UsageLine{{Line: 0, Verb: VerbAbort, Text: "deploy abort ID"}}},
		{"board accounting 1337", []UsageLine{{Line: 0, Verb: VerbTrain, Action: TrainBoard, Text: "train board APP BUILD [to ENV] [on TRAIN]"}}},
		{"deploy --dry-run confirm " + id, []UsageLine{
			{Line: 0, Verb: VerbConfirm, Text: "deploy confirm ID"},
			{Line: 1, Verb: VerbDeploy, Text: Usage(VerbDeploy)},
		}},
		{"deploy accounting", []UsageLine{{Line: 1, Verb: VerbDeploy, Text: Usage(VerbDeploy)}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r := Parse(tt.in, testCat(), Options{})
			if got := r.Usages(); !slices.Equal(got, tt.want) {
				t.Errorf("Parse(%q).Usages(): got %+v, want %+v (reply %q)", tt.in, got, tt.want, r.Reply)
			}
		})
	}
}

// TestFormUsageInTitleIsNamed: the refusal's first line is the title of
// the message that shows it; a form's usage it ends with is named there.
func TestFormUsageInTitleIsNamed(t *testing.T) {
	r := Parse("confirm 20261123-124158-b25a0a", testCat(), Options{})
	title, rest, _ := strings.Cut(r.Reply, "\n")
	var lines []string
	if rest != "" {
		lines = strings.Split(rest, "\n")
	}
	want := []chat.Usage{{Line: chat.TitleLine, Verb: string(VerbConfirm), Text: "deploy confirm ID"}}
	if got := usagesIn(title, lines, r); !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
