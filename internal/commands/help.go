package commands

import (
	"fmt"
	"slices"
	"strings"
)

// Help returns the help text generated from the grammar: with an empty
// topic, every command's usage and summary; with a verb (any case, with or
// without "/"), that command's usage, summary, forms, details and examples.
// The keyword of a form ("confirm") gets the help of its command. An
// unknown topic gets the overview, prefixed with a note. The text is plain,
// at most MaxReplyLen bytes, and does no platform formatting.
//
// Examples name what cat has, so that they can be typed as they are: an
// app, env or train of the grammar's examples that cat lacks is replaced
// by cat's first app in sorted order, the default env of the example's app
// and cat's first train, and a user (@ana) by cat's first user when cat
// names its users (UserCatalog). An example that would not parse so, or a
// nil cat or one without apps, keeps the grammar's names. Help does no I/O
// and is deterministic for a given cat.
func Help(topic string, cat Catalog) string {
	if topic == "" {
		return overview()
	}
	s := helpSpec(topic)
	if s == nil {
		return clip(fmt.Sprintf("No help for %s.\n", echo(topic))+overview(), MaxReplyLen)
	}
	var b strings.Builder
	b.WriteString(s.usage + "\n" + s.summary + "\n")
	for _, f := range s.forms {
		b.WriteString(f.usage + "\n    " + f.summary + "\n")
	}
	for _, d := range s.details {
		b.WriteString(d + "\n")
	}
	b.WriteString("Examples:\n")
	n := namesOf(cat)
	for _, e := range s.examples {
		b.WriteString("  " + n.example(s, e) + "\n")
	}
	for _, f := range s.forms {
		for _, e := range f.examples {
			b.WriteString("  " + n.example(&f, e) + "\n")
		}
	}
	return clip(strings.TrimSuffix(b.String(), "\n"), MaxReplyLen)
}

// helpSpec returns the command a help topic names: its verb or the keyword
// of one of its forms, in any case, with or without "/"; nil if none.
func helpSpec(topic string) *spec {
	t := strings.ToLower(strings.TrimPrefix(topic, "/"))
	if s := lookup(Verb(t)); s != nil {
		return s
	}
	if f := formNamed(t); f != nil {
		return f.parent
	}
	return nil
}

func overview() string {
	var b strings.Builder
	b.WriteString("Commands (as is, after \"/\", or in Slack after a mention of the bot):\n")
	for _, s := range grammar {
		b.WriteString(s.usage + "\n    " + s.summary + "\n")
		for _, f := range s.forms {
			b.WriteString(f.usage + "\n    " + f.summary + "\n")
		}
	}
	b.WriteString(`"help COMMAND" shows details and examples, e.g. "help deploy".`)
	return clip(b.String(), MaxReplyLen)
}

// secondWord reports whether word, in any case, is the fixed word that
// follows the verb in the usage of s or of one of its forms: "deploys" of
// lock, "board" of train.
func (s *spec) secondWord(word string) bool {
	for _, u := range append([]spec{*s}, s.forms...) {
		f := strings.Fields(u.usage)
		if len(f) > 1 && strings.Trim(f[1], "abcdefghijklmnopqrstuvwxyz") == "" && strings.EqualFold(word, f[1]) {
			return true
		}
	}
	return false
}

// The names the grammar's examples use for apps, envs, trains and users.
var (
	exampleApps   = []string{"accounting", "demo"}
	exampleEnvs   = []string{"production", "staging"}
	exampleTrains = []string{"daily"}
	exampleUsers  = []string{"ana", "bob"}
)

// UserCatalog is a Catalog that also names the users of the configuration,
// so that the examples of grant and revoke name a user the bot knows: a
// grant to a user the config lacks is refused.
type UserCatalog interface {
	Catalog
	Users() []string // sorted user names
}

// exampleNames says what the grammar's example names become in the help
// of one configuration.
type exampleNames struct {
	cat   Catalog
	app   string   // cat's first app; "" keeps the examples as written
	train string   // cat's first train, or ""
	users []string // cat's users, sorted; nil keeps the examples' users
}

func namesOf(cat Catalog) exampleNames {
	if cat == nil {
		return exampleNames{}
	}
	n := exampleNames{cat: cat}
	if apps := cat.Apps(); len(apps) > 0 {
		n.app = apps[0]
	}
	if trains := cat.Trains(); len(trains) > 0 {
		n.train = trains[0]
	}
	if uc, ok := cat.(UserCatalog); ok {
		n.users = uc.Users()
	}
	return n
}

// example returns ex, an example of s, with the names of the
// configuration, or ex itself when it would not run as s with them: an
// app named like a word of the grammar ("to", "now") can make an example
// mean something else.
func (n exampleNames) example(s *spec, ex string) string {
	if n.app == "" {
		return ex
	}
	words := strings.Split(ex, " ")
	var want Command
	changed := false
	for i, w := range words {
		switch {
		case slices.Contains(exampleApps, w):
			want.App = w
			if !slices.Contains(n.cat.Apps(), w) {
				want.App = n.app
			}
			words[i] = want.App
		case slices.Contains(exampleEnvs, w) && want.App != "":
			want.Env = w
			if !slices.Contains(n.cat.Envs(want.App), w) {
				want.Env = n.cat.DefaultEnv(want.App)
			}
			words[i] = want.Env
		case slices.Contains(exampleTrains, w) && n.train != "":
			want.Train = w
			if !slices.Contains(n.cat.Trains(), w) {
				want.Train = n.train
			}
			words[i] = want.Train
		case strings.HasPrefix(w, "@") && slices.Contains(exampleUsers, w[1:]) && len(n.users) > 0:
			if !slices.Contains(n.users, w[1:]) {
				words[i] = "@" + n.users[0]
			}
		default:
			continue
		}
		changed = changed || words[i] != w
	}
	if !changed {
		return ex
	}
	named := strings.Join(words, " ")
	r := Parse(named, n.cat, Options{})
	if r.Kind != Run || r.Cmd.Verb != s.verb || r.Cmd.App != want.App ||
		(want.Env != "" && r.Cmd.Env != want.Env) || (want.Train != "" && r.Cmd.Train != want.Train) {
		return ex
	}
	return named
}
