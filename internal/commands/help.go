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
	return clip(helpText(helpDoc(topic, cat)), MaxReplyLen)
}

// helpLine is one line of help: text, the usage of a command, or text
// around an example.
type helpLine struct {
	pre     string
	usage   *spec  // the line is this command's usage, after pre
	example string // a command the line shows, after pre
	post    string
	// typed marks a line that explains commands as typed (spec.typed).
	typed bool
}

func (l helpLine) String() string {
	if l.usage != nil {
		return l.pre + l.usage.usage + l.post
	}
	return l.pre + l.example + l.post
}

func textLine(s string) helpLine { return helpLine{pre: s} }

// helpText joins the lines of doc.
func helpText(doc []helpLine) string {
	lines := make([]string, len(doc))
	for i, l := range doc {
		lines[i] = l.String()
	}
	return strings.Join(lines, "\n")
}

// helpDoc is the help of topic (see Help), line by line.
func helpDoc(topic string, cat Catalog) []helpLine {
	if topic == "" {
		return overview()
	}
	s := helpSpec(topic)
	if s == nil {
		return append([]helpLine{textLine(fmt.Sprintf("No help for %s.", echo(topic)))}, overview()...)
	}
	doc := []helpLine{{usage: s}, textLine(s.summary)}
	for i := range s.forms {
		f := &s.forms[i]
		doc = append(doc, helpLine{usage: f}, textLine("    "+f.summary))
	}
	for _, d := range s.details {
		doc = append(doc, textLine(d))
	}
	for _, d := range s.typed {
		doc = append(doc, helpLine{pre: d, typed: true})
	}
	doc = append(doc, textLine("Examples:"))
	n := namesOf(cat)
	for _, e := range s.examples {
		doc = append(doc, helpLine{pre: "  ", example: n.example(s, e)})
	}
	for i := range s.forms {
		f := &s.forms[i]
		for _, e := range f.examples {
			doc = append(doc, helpLine{pre: "  ", example: n.example(f, e)})
		}
	}
	return doc
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

func overview() []helpLine {
	doc := []helpLine{{pre: "Commands (as is, after \"/\", or in Slack after a mention of the bot):", typed: true}}
	for i := range grammar {
		s := &grammar[i]
		doc = append(doc, helpLine{usage: s}, textLine("    "+s.summary))
		for j := range s.forms {
			f := &s.forms[j]
			doc = append(doc, helpLine{usage: f}, textLine("    "+f.summary))
		}
	}
	return append(doc, helpLine{pre: `Details and examples of one command: "`, example: "help deploy", post: `", say.`})
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
