package commands

import (
	"fmt"
	"strings"
)

// Help returns the help text generated from the grammar: with an empty
// topic, every command's usage and summary; with a verb (any case, with or
// without "/"), that command's usage, summary, forms, details and examples.
// The keyword of a form ("confirm") gets the help of its command. An
// unknown topic gets the overview, prefixed with a note. The text is plain,
// at most MaxReplyLen bytes, and does no platform formatting.
func Help(topic string) string {
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
	for _, e := range s.examples {
		b.WriteString("  " + e + "\n")
	}
	for _, f := range s.forms {
		for _, e := range f.examples {
			b.WriteString("  " + e + "\n")
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
	b.WriteString("Commands (as is, after \"/\", or after a mention of the bot):\n")
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
