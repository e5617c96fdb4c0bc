package commands

import (
	"strings"

	"github.com/switchman-bot/switchman/internal/chat"
)

// usagesIn returns the usage lines of r, the parser's refusal, as lines,
// the Lines of the message that shows it, hold them: the reply's last
// lines are its last lines.
func usagesIn(lines []string, r Result) []chat.Usage {
	n := strings.Count(r.Reply, "\n") + 1
	var us []chat.Usage
	for _, u := range r.Usages() {
		i := len(lines) - (n - u.Line)
		if i >= 0 && i < len(lines) && strings.HasSuffix(lines[i], u.Text) {
			u.Line = i
			us = append(us, chatUsage(u))
		}
	}
	return us
}

// chatUsage is u as a message names it.
func chatUsage(u UsageLine) chat.Usage {
	return chat.Usage{Line: u.Line, Verb: string(u.Verb), Action: u.Action, Text: u.Text}
}
