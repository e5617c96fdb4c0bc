package commands

import (
	"fmt"
	"strings"
)

// Help returns the help text generated from the grammar: with an empty
// topic, every command's usage and summary; with a verb (any case, with or
// without "/"), that command's usage, summary, details and examples. An
// unknown topic gets the overview, prefixed with a note. The text is plain,
// at most MaxReplyLen bytes, and does no platform formatting.
func Help(topic string) string {
	if topic == "" {
		return overview()
	}
	s := lookup(Verb(strings.ToLower(strings.TrimPrefix(topic, "/"))))
	if s == nil {
		return clip(fmt.Sprintf("No help for %s.\n", echo(topic))+overview(), MaxReplyLen)
	}
	var b strings.Builder
	b.WriteString(s.usage + "\n" + s.summary + "\n")
	for _, d := range s.details {
		b.WriteString(d + "\n")
	}
	b.WriteString("Examples:\n")
	for _, e := range s.examples {
		b.WriteString("  " + e + "\n")
	}
	return clip(strings.TrimSuffix(b.String(), "\n"), MaxReplyLen)
}

func overview() string {
	var b strings.Builder
	b.WriteString("Commands (write them as they are, after \"/\", or after a mention of the bot):\n")
	for _, s := range grammar {
		b.WriteString(s.usage + "\n    " + s.summary + "\n")
	}
	b.WriteString(`"help COMMAND" shows details and examples, e.g. "help deploy".`)
	return clip(b.String(), MaxReplyLen)
}
