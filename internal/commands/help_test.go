package commands

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/config"
)

func TestHelpOverview(t *testing.T) {
	got := Help("", nil)
	for _, s := range grammar {
		want := []string{s.usage, s.summary}
		for _, f := range s.forms {
			want = append(want, f.usage, f.summary)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("Help(\"\", nil): got\n%s\nwant it to contain %q", got, w)
			}
		}
	}
	if len(got) > MaxReplyLen {
		t.Errorf("Help(\"\", nil): got %d bytes, want at most %d", len(got), MaxReplyLen)
	}
	// The overview is built to fit: clip must not have cut its last line.
	if want := `Details and examples of one command: "help deploy", say.`; !strings.HasSuffix(got, want) {
		t.Errorf("Help(\"\", nil): got\n%s\nwant it to end with %q (not clipped)", got, want)
	}
	if r := Parse("/help", testCat(), Options{}); r.Kind != Run || r.Reply != got {
		t.Errorf("Parse(/help): got %v %q, want run with the overview", r.Kind, r.Reply)
	}
}

func TestHelpTopic(t *testing.T) {
	for _, s := range grammar {
		t.Run(string(s.verb), func(t *testing.T) {
			got := Help(string(s.verb), nil)
			want := append([]string{s.usage, s.summary}, s.details...)
			want = append(want, s.examples...)
			for _, f := range s.forms {
				want = append(want, f.usage+"\n    "+f.summary, "  "+f.examples[0])
			}
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("Help(%q, nil): got\n%s\nwant it to contain %q", s.verb, got, w)
				}
			}
			if !strings.HasPrefix(got, s.usage+"\n") {
				t.Errorf("Help(%q, nil): got %q, want it to start with the usage line", s.verb, got)
			}
			if r := Parse("help "+strings.ToUpper(string(s.verb)), testCat(), Options{}); r.Kind != Run || r.Reply != got || r.Cmd.Topic != string(s.verb) {
				t.Errorf("Parse(help %s): got %v topic %q reply %q, want run with Help(%q, nil)", s.verb, r.Kind, r.Cmd.Topic, r.Reply, s.verb)
			}
			if alt := Help("/"+strings.ToUpper(string(s.verb)), nil); alt != got {
				t.Errorf("Help(/%s, nil): got %q, want %q", strings.ToUpper(string(s.verb)), alt, got)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		got := Help("frobnicate", nil)
		if !strings.HasPrefix(got, `No help for "frobnicate".`) || !strings.Contains(got, Usage(VerbDeploy)) {
			t.Errorf("Help(frobnicate, nil): got %q, want a note and the overview", got)
		}
	})
}

// TestGrammarExamples runs every example of the help text through Parse, so
// that help never shows a command that does not work.
func TestGrammarExamples(t *testing.T) {
	var specs []*spec
	for i := range grammar {
		specs = append(specs, &grammar[i])
		for j := range grammar[i].forms {
			specs = append(specs, &grammar[i].forms[j])
		}
	}
	for _, s := range specs {
		for _, ex := range s.examples {
			t.Run(ex, func(t *testing.T) {
				got := Parse(ex, testCat(), Options{})
				if got.Kind != Run || got.Cmd.Verb != s.verb {
					t.Fatalf("Parse(%q): got %v %s (reply %q), want run %s", ex, got.Kind, got.Cmd.Verb, got.Reply, s.verb)
				}
				// Examples are written in canonical form, except where
				// they show a default being filled in.
				if again := Parse(got.Cmd.Text, testCat(), Options{}); again.Kind != Run || again.Cmd != got.Cmd {
					t.Errorf("Parse(%q) (the Text of %q): got %v %+v, want run %+v", got.Cmd.Text, ex, again.Kind, again.Cmd, got.Cmd)
				}
			})
		}
	}
}

func TestGrammarTable(t *testing.T) {
	want := []Verb{VerbDeploy, VerbRollback, VerbLock, VerbUnlock, VerbTrain, VerbStatus, VerbHistory, VerbStats, VerbCancel,
		VerbAudit, VerbGrant, VerbRevoke, VerbHere, VerbAway, VerbAdmins, VerbHelp, VerbWhoami}
	got := Verbs()
	if strings.Join(verbStrings(got), " ") != strings.Join(verbStrings(want), " ") {
		t.Errorf("Verbs(): got %v, want %v", got, want)
	}
	for _, v := range want {
		s := lookup(v)
		if s == nil {
			t.Errorf("lookup(%q): got nil, want its spec", v)
			continue
		}
		if !strings.HasPrefix(Usage(v), string(v)) || Summary(v) == "" || len(s.examples) == 0 || s.parse == nil {
			t.Errorf("spec %q: got usage %q, summary %q, %d examples, want all set", v, Usage(v), Summary(v), len(s.examples))
		}
	}
	if got := Usage("frobnicate"); got != "" {
		t.Errorf("Usage(frobnicate): got %q, want empty", got)
	}
}

// TestGrammarForms checks the forms of deploy: they have their own verb,
// usage and summary, but are not commands of their own.
func TestGrammarForms(t *testing.T) {
	for _, tt := range []struct {
		verb  Verb
		usage string
	}{{VerbConfirm, "deploy confirm ID"}, {VerbAbort, "deploy abort ID"}} {
		t.Run(string(tt.verb), func(t *testing.T) {
			if got := Usage(tt.verb); got != tt.usage {
				t.Errorf("Usage(%q): got %q, want %q", tt.verb, got, tt.usage)
			}
			f := specOf(tt.verb)
			if f == nil || f.parent != lookup(VerbDeploy) || Summary(tt.verb) == "" || len(f.examples) == 0 || f.parse == nil {
				t.Fatalf("form %q: got %+v, want a form of deploy with summary, examples and parse", tt.verb, f)
			}
			if lookup(tt.verb) != nil || slices.Contains(Verbs(), tt.verb) {
				t.Errorf("lookup(%q): got a command, want a form only", tt.verb)
			}
			if f.name() != string(VerbDeploy)+" "+string(tt.verb) || !strings.HasPrefix(f.usage, f.name()+" ") {
				t.Errorf("form %q: got name %q and usage %q, want both to start with deploy %s", tt.verb, f.name(), f.usage, tt.verb)
			}
			if len(f.flags) != 0 || len(f.forms) != 0 || len(f.details) != 0 {
				t.Errorf("form %q: got flags, forms or details, want none (help shows the details of deploy)", tt.verb)
			}
		})
	}
}

// TestGrammarTrainActions checks the actions of train: forms that keep the
// verb train, so they are neither commands nor forms with a verb of their
// own, and whose parse functions set the action they are named for.
func TestGrammarTrainActions(t *testing.T) {
	train := lookup(VerbTrain)
	if train == nil || Usage(VerbTrain) != "train" || specOf(VerbTrain) != train {
		t.Fatalf("train: got spec %+v and usage %q, want the command train with usage %q", train, Usage(VerbTrain), "train")
	}
	var keywords []string
	for i := range train.forms {
		f := &train.forms[i]
		keywords = append(keywords, f.keyword)
		t.Run(f.keyword, func(t *testing.T) {
			if !f.isAction() || f.verb != VerbTrain || f.parent != train {
				t.Errorf("action %q: got verb %q, parent %p, want an action of train", f.keyword, f.verb, f.parent)
			}
			if byForm[Verb(f.keyword)] == f || byForm[VerbTrain] != nil {
				t.Errorf("byForm[%q]: got the action, want only forms with a verb of their own", f.keyword)
			}
			if f.name() != "train "+f.keyword || !strings.HasPrefix(f.usage, f.name()+" ") || f.summary == "" || len(f.examples) == 0 {
				t.Errorf("action %q: got name %q, usage %q, summary %q, want train KEYWORD … with a summary and examples", f.keyword, f.name(), f.usage, f.summary)
			}
			for _, ex := range f.examples {
				if r := Parse(ex, testCat(), Options{}); r.Kind != Run || r.Cmd.Verb != VerbTrain || r.Cmd.TrainAction != f.keyword {
					t.Errorf("Parse(%q): got %v %+v (reply %q), want run train with action %q", ex, r.Kind, r.Cmd, r.Reply, f.keyword)
				}
			}
		})
	}
	if want := []string{TrainBoard, TrainLeave, TrainCancel, TrainDepart}; !slices.Equal(keywords, want) {
		t.Errorf("train actions: got %v, want %v", keywords, want)
	}
	for _, f := range lookup(VerbDeploy).forms {
		if f.isAction() || byForm[f.verb] == nil {
			t.Errorf("deploy %s: got an action, want a form with a verb of its own", f.keyword)
		}
	}
}

// TestHelpTrainStats checks what the help of train and stats must tell:
// every action with its summary, how a train is chosen, why depart needs
// "now", and the window's default and limit, which come from the
// constants. The keyword of an action gets the help of train.
func TestHelpTrainStats(t *testing.T) {
	tests := []struct {
		topic string
		want  []string
	}{
		{"train", []string{
			"train\nList the deploy trains",
			"train board APP BUILD [to ENV] [on TRAIN]\n    Put BUILD of APP on the train.",
			"train leave APP [on TRAIN]\n    Take APP off the train.",
			"train cancel [TRAIN] reason…\n    Call off the train's next departure; say why.",
			"train depart [TRAIN] now\n    Send the train off now",
			"with only one train it may be left out",
			"Without an env a car ships to the train's env.",
			"quote it if it starts with a train name",
			"depart needs the word now",
			"\n  train\n  train board accounting 1337 to production on daily\n",
			"\n  train depart daily now",
		}},
		{"stats", []string{
			"stats APP [ENV] [WINDOW]",
			"(default " + formatWindow(DefaultStatsWindow) + ")",
			"at most " + formatWindow(MaxStatsWindow),
			"e.g. 7d, 90d or 2w",
			"Without ENV, of every env of APP.",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			got := Help(tt.topic, nil)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Help(%q, nil): got\n%s\nwant it to contain %q", tt.topic, got, w)
				}
			}
		})
	}
	for _, topic := range []string{"board", "/LEAVE", "depart"} {
		if got, want := Help(topic, nil), Help("train", nil); got != want {
			t.Errorf("Help(%q, nil): got %q, want the help of train", topic, got)
		}
	}
	if got := Help("cancel", nil); !strings.HasPrefix(got, "cancel APP [ENV]\n") {
		t.Errorf("Help(cancel, nil): got %q, want the help of the command cancel, not of train cancel", got)
	}
	if got := formatWindow(DefaultStatsWindow) + " " + formatWindow(MaxStatsWindow); got != "30d 365d" {
		t.Errorf("stats window limits: got %s, want 30d 365d", got)
	}
}

// TestHelpDeployForms checks what the help of deploy must tell about its
// forms: their usage, the shape of a deploy id, and how an app named like a
// keyword is deployed. The keyword of a form gets the help of deploy.
func TestHelpDeployForms(t *testing.T) {
	got := Help("deploy", nil)
	for _, w := range []string{
		"deploy confirm ID\n    Run the pending migrations",
		"deploy abort ID\n    Stop deploy ID",
		"ID is the deploy id the migrations prompt shows, e.g. 20261123-124158-b25a0a.",
		`"deploy confirm 1337" deploys it`,
		`quote the app: deploy "confirm" 20261123-124158-b25a0a`,
		"\n  deploy confirm 20261123-124158-b25a0a\n  deploy abort 20261123-124158-b25a0a",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("Help(deploy, nil): got\n%s\nwant it to contain %q", got, w)
		}
	}
	for _, topic := range []string{"confirm", "/ABORT"} {
		if alt := Help(topic, nil); alt != got {
			t.Errorf("Help(%q, nil): got %q, want the help of deploy", topic, alt)
		}
	}
	if !strings.Contains(Help("frobnicate", nil), "deploy confirm ID\n") {
		t.Errorf("Help(frobnicate, nil): got %q, want the overview with the forms", Help("frobnicate", nil))
	}
}

// TestHelpGuardRails checks what the help of the guard-rail commands must
// tell: the user forms, the role check, and the defaults and limits, which
// come from the constants.
func TestHelpGuardRails(t *testing.T) {
	tests := []struct {
		topic string
		want  []string
	}{
		{"grant", []string{"grant @USER ROLE [APP] [ENV] [for DURATION]", "@name or a chat mention", "role of the configuration", "at most 90d", "until revoked"}},
		{"revoke", []string{"revoke @USER ROLE [APP] [ENV]", "must match the grant"}},
		{"here", []string{"here [for DURATION]", "(default " + formatDuration(DefaultHereFor) + ")"}},
		{"away", []string{"away\n", "no longer around"}},
		{"admins", []string{"admins\n", "which admins are around"}},
		{"audit", []string{"audit [APP] [N]", "default " + strconv.Itoa(DefaultAudit), "at most " + strconv.Itoa(MaxAudit)}},
		{"history", []string{"default " + strconv.Itoa(DefaultHistory), "at most " + strconv.Itoa(MaxHistory)}},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			got := Help(tt.topic, nil)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Help(%q, nil): got\n%s\nwant it to contain %q", tt.topic, got, w)
				}
			}
		})
	}
}

func verbStrings(vs []Verb) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// TestREADMEDocumentsEveryCommand: the README shows every command and
// form with the usage help and the parser have, so that what people read
// there is what the bot takes.
func TestREADMEDocumentsEveryCommand(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range grammar {
		usages := []string{s.usage}
		for _, f := range s.forms {
			usages = append(usages, f.usage)
		}
		for _, u := range usages {
			if !strings.Contains(string(readme), "`"+u+"`") {
				t.Errorf("README.md: got no `%s`, want every command's usage as help shows it", u)
			}
		}
	}
}

// TestHelpExamplesFromCatalog checks that examples name an app, env and
// train of the configuration: the placeholders of the grammar are kept
// where the configuration has them, and otherwise replaced by its first app
// in sorted order, that app's default env, and its first train.
func TestHelpExamplesFromCatalog(t *testing.T) {
	demo := testCatalog{envs: map[string][]string{"demo": {"local"}}, defaults: map[string]string{"demo": "local"}}
	webAPI := testCatalog{
		envs:     map[string][]string{"web": {"prod", "staging"}, "api": {"dev", "live"}},
		defaults: map[string]string{"web": "prod", "api": "live"},
		trains:   []string{"nightly", "weekly"},
	}
	tests := []struct {
		name    string
		cat     Catalog
		topic   string
		want    []string
		notWant []string
	}{
		{"demo deploy", demo, "deploy", []string{"\n  deploy demo 1337 to local\n", "\n  deploy demo 2.4.0-rc1 --dry-run\n", `deploy demo 1338 to local --force "INC-42 hotfix"`}, []string{"accounting", "production"}},
		{"demo rollback", demo, "rollback", []string{"\n  rollback demo\n  rollback demo local to 1336"}, []string{"accounting", "staging"}},
		{"demo lock", demo, "lock", []string{"\n  lock deploys demo local for 2h db migration\n"}, []string{"accounting"}},
		{"first app sorted, its default env", webAPI, "deploy", []string{"\n  deploy api 1337 to live\n", "\n  deploy api 2.4.0-rc1 --dry-run\n"}, []string{"accounting", "production"}},
		{"env of the app kept", testCatalog{envs: map[string][]string{"web": {"prod", "staging"}}, defaults: map[string]string{"web": "prod"}}, "rollback", []string{"\n  rollback web staging to 1336"}, nil},
		{"first train", webAPI, "train", []string{"\n  train board api 1337 to live on nightly\n", "\n  train depart nightly now"}, []string{"daily"}},
		{"placeholders in the configuration kept", testCat(), "deploy", []string{"\n  deploy accounting 1337 to production\n", "\n  deploy demo 2.4.0-rc1 --dry-run\n"}, nil},
		{"no configuration", nil, "rollback", []string{"\n  rollback accounting\n  rollback accounting staging to 1336"}, nil},
		{"names that would not parse keep the placeholders", testCatalog{envs: map[string][]string{"to": {"for"}}, defaults: map[string]string{"to": "for"}}, "stats", []string{"\n  stats to\n  stats accounting production 90d"}, nil},
		{"no apps", noApps{}, "stats", []string{"\n  stats accounting production 90d"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse("help "+tt.topic, tt.cat, Options{})
			if got.Kind != Run {
				t.Fatalf("Parse(help %s): got %v %q, want run", tt.topic, got.Kind, got.Reply)
			}
			for _, w := range tt.want {
				if !strings.Contains(got.Reply, w) {
					t.Errorf("Parse(help %s): got\n%s\nwant it to contain %q", tt.topic, got.Reply, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got.Reply, w) {
					t.Errorf("Parse(help %s): got\n%s\nwant no %q", tt.topic, got.Reply, w)
				}
			}
		})
	}
}

// TestRepliesNameTheCatalog: the examples in the parser's own replies
// name the configuration's app and env, as help's do.
func TestRepliesNameTheCatalog(t *testing.T) {
	demo := testCatalog{envs: map[string][]string{"demo": {"local"}}, defaults: map[string]string{"demo": "local"}}
	for _, tt := range []struct{ in, want string }{
		{"lock deploys", "e.g. lock deploys demo local for 2h db migration"},
		{"lock", "e.g. lock deploys demo local for 2h db migration"},
		{"lock deploys demo for", "e.g. lock deploys demo local for 2h db migration"},
		{"unlock", "e.g. unlock deploys demo local"},
	} {
		got := Parse(tt.in, demo, Options{})
		if got.Kind != Reply || !strings.Contains(got.Reply, tt.want) || strings.Contains(got.Reply, "accounting") {
			t.Errorf("Parse(%q): got %v %q, want a reply with %q and no accounting", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
}

// TestHelpExamplesParse runs every example that help shows through Parse
// with the catalog help was made for, including apps named like the words
// of the grammar, so that help never shows a command that does not work
// there. An example that would not work with the configuration's names
// keeps the grammar's placeholders.
func TestHelpExamplesParse(t *testing.T) {
	one := func(app, env string) testCatalog {
		return testCatalog{envs: map[string][]string{app: {env}}, defaults: map[string]string{app: env}, trains: []string{"daily"}}
	}
	cats := map[string]testCatalog{
		"demo":      one("demo", "local"),
		"test":      testCat(),
		"app to":    one("to", "prod"),
		"app for":   one("for", "prod"),
		"app now":   one("now", "now"),
		"confirm":   one("confirm", "abort"),
		"deploys":   one("deploys", "production"),
		"app train": {envs: map[string][]string{"web": {"prod"}}, defaults: map[string]string{"web": "prod"}, trains: []string{"now", "to"}},
	}
	for name, cat := range cats {
		for _, v := range Verbs() {
			t.Run(name+"/"+string(v), func(t *testing.T) {
				help := Parse("help "+string(v), cat, Options{}).Reply
				_, examples, ok := strings.Cut(help, "\nExamples:\n")
				if !ok {
					t.Fatalf("help %s: got\n%s\nwant examples", v, help)
				}
				for _, ex := range strings.Split(examples, "\n") {
					ex = strings.TrimPrefix(ex, "  ")
					if r := Parse(ex, cat, Options{}); r.Kind != Run {
						t.Errorf("Parse(%q) (an example of help %s): got %v %q, want run", ex, v, r.Kind, r.Reply)
					}
				}
			})
		}
	}
}

// TestHelpBuildRule: the rule for BUILD that help states is the one
// CheckBuild applies, ".." included.
func TestHelpBuildRule(t *testing.T) {
	help := Help("deploy", testCat())
	for _, tt := range []struct {
		build string
		rule  string // what help must say for CheckBuild's verdict on build
	}{
		{"1..2", `without ".."`},
		{".1", "starting with a letter or digit"},
		{"1/2", "ASCII letters, digits, '.', '_' or '-'"},
	} {
		if CheckBuild(tt.build) == nil {
			t.Errorf("CheckBuild(%q): got nil, want an error", tt.build)
		}
		if !strings.Contains(help, tt.rule) {
			t.Errorf("help deploy does not say %q, which refuses build %q:\n%s", tt.rule, tt.build, help)
		}
	}
}

// TestHelpExamplesNameConfiguredUsers: the examples of grant and revoke
// name a user of the configuration, since a grant to a user it lacks is
// refused ("unknown user"); a user it has is kept.
func TestHelpExamplesNameConfiguredUsers(t *testing.T) {
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "sw.yaml"), []byte(`
users:
  alice: {}
  bob: {}
  carol: {}
admins: [alice]
apps:
  demo:
    artifact: {path: "builds/{build}.tar.gz"}
    path: deploy
    restart: "true"
    environments:
      local: {hosts: [localhost]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic   string
		want    []string
		notWant []string
	}{
		{"grant", []string{"\n  grant @alice deployer demo local for 2h\n", "\n  grant @bob deployer demo"}, []string{"@ana"}},
		{"revoke", []string{"\n  revoke @alice deployer demo local"}, []string{"@ana"}},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			got := Parse("help "+tt.topic, CatalogOf(cfg), Options{})
			if got.Kind != Run {
				t.Fatalf("Parse(help %s): got %v %q, want run", tt.topic, got.Kind, got.Reply)
			}
			for _, w := range tt.want {
				if !strings.Contains(got.Reply, w) {
					t.Errorf("Parse(help %s): got\n%s\nwant it to contain %q", tt.topic, got.Reply, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got.Reply, w) {
					t.Errorf("Parse(help %s): got\n%s\nwant no %q", tt.topic, got.Reply, w)
				}
			}
		})
	}
}
