package commands

import (
	"slices"
	"strings"
	"testing"
)

// oddBases are one command of each form README lists, written right;
// the words of a reason, from "db" or a quote on, are free text.
var oddBases = []string{
	"deploy accounting 1337 to production --dry-run",
	`deploy accounting 1337 to production --force "db migration"`,
	"rollback accounting production to 1336 from 1337",
	"lock deploys accounting production for 2h db migration",
	"lock deploys accounting db migration for 2h",
	"unlock deploys accounting production",
	"status accounting",
	"history accounting production 5",
	"cancel accounting production",
	"help lock",
	"whoami",
	"grant @ana deployer accounting production for 2h",
	"revoke @ana deployer accounting production",
	"here for 2h",
	"away",
	"admins",
	"audit accounting 5",
	"deploy confirm " + deployID,
	"deploy abort " + deployID,
	"train",
	"train board accounting 1337 to production on daily",
	"train leave accounting on daily",
	"train cancel daily db migration",
	"train depart daily now",
	"stats accounting production 7d",
}

// oddWords stand in for a word of a command, or are added to it.
var oddWords = []string{
	`""`, `''`, "to", "from", "on", "for", "now", "deploys",
	"—dry-run", "–force", "\u2212\u2212dry-run", "“db migration”", "«x»", "‘x’",
	"\x00", "\x1b[31m", "a\x7fb", "\u202eoiduа", "\u200b", "\t",
	"$(id)", "`id`", ";", "&&", "|", "../../etc/passwd", ">out.txt", "'; rm -rf / #",
	strings.Repeat("x", 5000), strings.Repeat("a ", 2000),
}

// TestOddInput checks the invariants of Parse on every command of README
// with each word written twice, each word replaced by an odd one, and an
// odd word added at each place: a reply sets no field but the verb, and a
// run's Text parses back to the same command.
func TestOddInput(t *testing.T) {
	cats := []Catalog{testCat(), keywordCat(), oneTrainCat()}
	for _, base := range oddBases {
		words := strings.Fields(base)
		var inputs []string
		for i := range words {
			inputs = append(inputs, strings.Join(append(append(words[:i:i], words[i]), words[i:]...), " "))
			for _, odd := range oddWords {
				inputs = append(inputs,
					strings.Join(append(append(words[:i:i], odd), words[i+1:]...), " "),
					strings.Join(append(append(words[:i:i], odd), words[i:]...), " "))
			}
		}
		for _, odd := range oddWords {
			inputs = append(inputs, base+" "+odd)
		}
		t.Run(base, func(t *testing.T) {
			for _, in := range inputs {
				for _, cat := range cats {
					checkParse(t, cat, in)
				}
			}
			// A word written twice before any free text is a slip, not a
			// name or a word of a reason: it is answered, not run.
			free := len(words)
			if i := slices.IndexFunc(words, func(w string) bool { return w == "db" || strings.HasPrefix(w, `"`) }); i >= 0 {
				free = i
			}
			for i := range free {
				in := strings.Join(append(append(words[:i:i], words[i]), words[i:]...), " ")
				got := Parse(in, testCat(), Options{})
				if got.Kind != Reply {
					t.Errorf("Parse(%q): got %v %q, want a reply", in, got.Kind, got.Cmd.Text)
				}
				// The app written twice is named so, not an unexpected
				// word or an unknown env.
				if words[i] == "accounting" && slices.ContainsFunc(appTwiceNamed, func(v string) bool { return strings.HasPrefix(base, v+" ") }) &&
					!strings.HasPrefix(got.Reply, `"accounting" is written twice; write it once: `) {
					t.Errorf("Parse(%q): got %q, want a reply naming the app written twice", in, got.Reply)
				}
				if words[i] == "production" && slices.ContainsFunc(envTwiceNamed, func(v string) bool { return strings.HasPrefix(base, v+" ") }) &&
					!strings.HasPrefix(got.Reply, `"production" is written twice; write it once: `) {
					t.Errorf("Parse(%q): got %q, want a reply naming the env written twice", in, got.Reply)
				}
				// So is the verb, a build, a train and help's topic.
				named := i == 0 && base != "train"
				for w := range wordTwiceNamed {
					named = named || i > 0 && words[i] == w && slices.ContainsFunc(wordTwiceNamed[w], func(v string) bool { return strings.HasPrefix(base, v+" ") })
				}
				if named && !strings.HasPrefix(got.Reply, `"`+words[i]+`" is written twice; write it once: `) {
					t.Errorf("Parse(%q): got %q, want a reply naming %q written twice", in, got.Reply, words[i])
				}
			}
		})
	}
}

// appTwiceNamed are the commands of oddBases that name the app written
// twice right after it as such.
var appTwiceNamed = []string{
	"rollback", "unlock deploys", "status", "history", "cancel", "audit", "train leave", "stats", "deploy", "train board", "grant", "revoke", "lock deploys",
}

// envTwiceNamed are the commands of oddBases that name the env written
// twice right after it as such, with the command written right.
var envTwiceNamed = []string{
	"deploy", "rollback", "unlock deploys", "history", "cancel", "grant", "revoke", "stats", "train board", "lock deploys",
}

// wordTwiceNamed are, per word, the commands of oddBases that name it
// written twice as such, with the command written right.
var wordTwiceNamed = map[string][]string{
	"1336":      {"rollback"},
	"1337":      {"deploy", "train board", "rollback"},
	"daily":     {"train board", "train leave", "train depart", "train cancel"},
	"lock":      {"help"},
	"confirm":   {"deploy confirm"},
	"abort":     {"deploy abort"},
	deployID:    {"deploy confirm", "deploy abort"},
	"now":       {"train depart"},
	"board":     {"train board"},
	"leave":     {"train leave"},
	"depart":    {"train depart"},
	"@ana":      {"grant", "revoke"},
	"--dry-run": {"deploy"},
	"2h":        {"grant", "here"},
}
