package commands

import (
	"strings"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// HelpMessage is Help as the bot replies it: one line of Help a line,
// the usage lines named (chat.Message.Usages), the lines that explain
// commands as typed named too (chat.Message.Typed) and each example that
// runs with cat marked as a suggestion (see suggest), so that a platform
// whose users send commands in a form of their own shows both in that
// form, and leaves out what is said of typing them.
// Lines that Help's limit cut are left as Help has them.
func HelpMessage(topic string, cat Catalog) chat.Message {
	doc := helpDoc(topic, cat)
	lines := strings.Split(strings.TrimRight(Help(topic, cat), "\n"), "\n")
	m := chat.Message{Level: chat.Info, Lines: lines}
	for i, l := range doc {
		if i >= len(lines) || lines[i] != l.String() {
			break
		}
		if l.typed {
			m.Typed = append(m.Typed, i)
		}
		switch {
		case l.usage != nil:
			m.Usages = append(m.Usages, chatUsage(l.usage.usageRef(i)))
		case l.example != "" && Parse(l.example, cat, Options{}).Kind == Run:
			lines[i] = l.pre + suggest.Command(l.example) + l.post
		}
	}
	return m
}

// usagesIn returns the usage lines of r, the parser's refusal, as title
// and lines, the Title and Lines of the message that shows it, hold them:
// the reply's last lines are its last lines, and the line before them
// the title (chat.TitleLine).
func usagesIn(title string, lines []string, r Result) []chat.Usage {
	n := strings.Count(r.Reply, "\n") + 1
	var us []chat.Usage
	for _, u := range r.Usages() {
		i := len(lines) - (n - u.Line)
		switch {
		case i >= 0 && i < len(lines) && strings.HasSuffix(lines[i], u.Text):
			u.Line = i
		case i == chat.TitleLine && strings.HasSuffix(title, u.Text):
			u.Line = i
		default:
			continue
		}
		us = append(us, chatUsage(u))
	}
	return us
}

// chatUsage is u as a message names it.
func chatUsage(u UsageLine) chat.Usage {
	return chat.Usage{Line: u.Line, Verb: string(u.Verb), Action: u.Action, Text: u.Text}
}
