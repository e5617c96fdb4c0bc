package discord

import (
	"strings"
	"sync"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/commands"
)

// A refusal of the parser ends with the usage of its command in the
// typed grammar ("usage: grant @USER ROLE [APP] [ENV] [for DURATION]"),
// which a Discord user cannot send: slashUsages writes it as the slash
// command with its options (/grant user: role: [app:] [env:]
// [duration:]), taken from the commands registered with Discord, so the
// two cannot drift apart.

// usagePrefix starts the first usage line of a refusal; the usage lines
// of a command's actions follow it, one a line, indented under it.
const (
	usagePrefix = "usage: "
	usageIndent = "       "
)

// slashUsage maps each usage line of the typed grammar that has a slash
// command to that command's usage. Options do not depend on the config's
// choices, so one table serves every adapter.
var slashUsage = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for _, v := range slashVerbs() {
		spec, ok := slash[v]
		if !ok {
			continue
		}
		typed := commands.Usage(v)
		if spec.subs == nil {
			m[typed] = usageOf("/"+string(v), spec.options(choiceSet{}))
			continue
		}
		for _, sub := range spec.subs {
			opts := sub.options(choiceSet{})
			// An action's usage line is that of its own form ("train
			// board APP BUILD …"), named here by its first two words.
			line := typed + " " + sub.name
			if len(opts) == 0 {
				line = typed // the bare verb, e.g. "train" for /train list
			}
			m[line] = usageOf("/"+string(v)+" "+sub.name, opts)
		}
	}
	return m
})

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

// slashUsages rewrites the usage lines of s that have a slash command.
// Only a line that starts "usage: " with a usage of the typed grammar,
// and the indented lines right under it, are rewritten, each when it is
// one whole usage line: other text is left as written.
func slashUsages(s string) string {
	if !strings.Contains(s, usagePrefix) {
		return s
	}
	lines := strings.Split(s, "\n")
	inUsage := false
	for i, l := range lines {
		rest, ok := strings.CutPrefix(l, usagePrefix)
		if !ok && inUsage {
			rest, ok = strings.CutPrefix(l, usageIndent)
		}
		slash, known := slashUsageOf(rest)
		if !ok || !known {
			inUsage = false
			continue
		}
		lines[i] = l[:len(l)-len(rest)] + slash
		inUsage = true
	}
	return strings.Join(lines, "\n")
}

// slashUsageOf returns the slash usage of typed, one usage line of the
// typed grammar: a whole one, or an action's, by its verb and action.
func slashUsageOf(typed string) (string, bool) {
	if u, ok := slashUsage()[typed]; ok {
		return u, true
	}
	words := strings.Fields(typed)
	if len(words) < 2 || commands.Usage(commands.Verb(words[0])) != words[0] {
		return "", false
	}
	u, ok := slashUsage()[words[0]+" "+words[1]]
	return u, ok
}
