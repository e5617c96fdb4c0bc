package discord

import (
	"slices"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
)

// The usage of a command, under a refusal of the parser and in help, is
// written in the typed grammar ("grant @USER ROLE [APP] [ENV] [for
// DURATION]"), which a Discord user cannot send. The message names the
// lines that give one, and the command of each (chat.Usage): each is
// shown as that command's slash command with its options (/grant user:
// role: [app:] [env:] [duration:]), built from the definitions the
// commands are registered with, so the two cannot drift apart, and no
// wording of the line is read.

// slashUsageLines returns m's Lines with the usage each of m.Usages names
// written as its slash command. A line that no longer ends with its
// usage, or a command without a slash command, is left as it is.
func slashUsageLines(m chat.Message) []string {
	if len(m.Usages) == 0 {
		return m.Lines
	}
	lines := slices.Clone(m.Lines)
	for _, u := range m.Usages {
		if u.Line < 0 || u.Line >= len(lines) {
			continue
		}
		lines[u.Line] = slashUsageIn(lines[u.Line], u)
	}
	return lines
}

// slashUsageTitle returns m's Title with the usage m.Usages names in it
// (chat.TitleLine) written as its slash command, as slashUsageLines
// does a line's.
func slashUsageTitle(m chat.Message) string {
	title := m.Title
	for _, u := range m.Usages {
		if u.Line == chat.TitleLine {
			title = slashUsageIn(title, u)
		}
	}
	return title
}

// slashUsageIn returns line with u's usage, which it ends with, written
// as its slash command, or line as it is.
func slashUsageIn(line string, u chat.Usage) string {
	head, ok := strings.CutSuffix(line, u.Text)
	if !ok {
		return line
	}
	if slash, ok := slashUsage(commands.Verb(u.Verb), u.Action); ok {
		return head + slash
	}
	return line
}

// slashUsage is the usage of the slash command of verb, or of its action
// (its subcommand of that name; "" is the subcommand that, given no
// option, sends the bare verb: /train list for "train"), and whether
// there is one.
func slashUsage(verb commands.Verb, action string) (string, bool) {
	spec, ok := slash[verb]
	if !ok {
		return "", false
	}
	name := "/" + string(verb)
	switch {
	case spec.subs != nil:
		i := slices.IndexFunc(spec.subs, func(sub subcommand) bool {
			if action == "" {
				text, err := sub.text(options{})
				return err == nil && text == string(verb)
			}
			return sub.name == action
		})
		if i < 0 {
			return "", false
		}
		name += " " + spec.subs[i].name
		spec = spec.subs[i].slashSpec
	case action != "":
		return "", false
	}
	return usageOf(name, spec.options(choiceSet{})), true
}

// usageOf is the usage of the slash command name with opts: each option
// named with its colon, an optional one in brackets.
func usageOf(name string, opts []*discordgo.ApplicationCommandOption) string {
	parts := []string{name}
	for _, o := range opts {
		if o.Required {
			parts = append(parts, o.Name+":")
		} else {
			parts = append(parts, "["+o.Name+":]")
		}
	}
	return strings.Join(parts, " ")
}
