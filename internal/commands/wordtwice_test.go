package commands

import (
	"strings"
	"testing"
)

// TestWordWrittenTwice: a build, a train, the verb and help's topic
// written twice were answered as an unexpected word, or the verb as an
// unknown app ("deploy deploy accounting 1337"). Each is named written
// twice now, with the command written right.
func TestWordWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"deploy build", "deploy accounting 1337 1337", "1337", "deploy accounting 1337", "deploy accounting 1337 to production"},
		{"deploy build, env and flag", "deploy accounting 1337 1337 to staging --dry-run", "1337",
			"deploy accounting 1337 to staging --dry-run", "deploy accounting 1337 to staging --dry-run"},
		{"train board build", "train board accounting 1337 1337 on daily", "1337",
			"train board accounting 1337 on daily", "train board accounting 1337 on daily"},
		{"train board train", "train board accounting 1337 on daily daily", "daily",
			"train board accounting 1337 on daily", "train board accounting 1337 on daily"},
		{"train board train, env after", "train board accounting 1337 on daily daily to staging", "daily",
			"train board accounting 1337 on daily to staging", "train board accounting 1337 to staging on daily"},
		{"train leave train", "train leave accounting on daily daily", "daily",
			"train leave accounting on daily", "train leave accounting on daily"},
		{"train depart train", "train depart daily daily now", "daily", "train depart daily now", "train depart daily now"},
		{"deploy verb", "deploy deploy accounting 1337", "deploy", "deploy accounting 1337", "deploy accounting 1337 to production"},
		{"deploy verb, flags", `deploy deploy accounting 1337 --force "db migration"`, "deploy",
			`deploy accounting 1337 --force "db migration"`, `deploy accounting 1337 to production --force "db migration"`},
		{"status verb", "status status accounting", "status", "status accounting", "status accounting"},
		{"whoami", "whoami whoami", "whoami", "whoami", "whoami"},
		{"help topic", "help lock lock", "lock", "help lock", "help lock"},
	})
	// A word named so in the catalog, or read so by the command, is
	// still that name.
	cat := testCat()
	cat.envs["deploy"] = []string{"production"}
	cat.defaults["deploy"] = "production"
	for _, tt := range []struct {
		name, in, want string
		cat            Catalog
	}{
		{"app named as the verb", "deploy deploy 1337", "deploy deploy 1337 to production", cat},
		{"help of help", "help help", "help help", testCat()},
		{"train called now", "train depart now now", "train depart now now", keywordCat()},
	} {
		got := Parse(tt.in, tt.cat, Options{})
		if got.Kind != Run || got.Cmd.Text != tt.want {
			t.Errorf("%s: Parse(%q): got %v %q (%s), want a run of %q", tt.name, tt.in, got.Kind, got.Cmd.Text, strings.SplitN(got.Reply, "\n", 2)[0], tt.want)
		}
	}
}
