package chat

import (
	"strings"
	"unicode"
)

// Text renders m as plain text lines: the console's renderer, and the
// fallback text other platforms show in notifications.
//
// Text from outside (a host's standard error, a Sentry issue's title) may
// hold line breaks and control characters: each line it adds is indented
// under the line it belongs to, and control characters are shown as �,
// so that nothing in it prints a line that passes for one of the bot's
// own or moves a terminal's cursor.
func Text(m Message) string {
	var b strings.Builder
	prefix := map[Level]string{Success: "✔ ", Warning: "! ", Failure: "✖ "}[m.Level]
	if m.Title != "" {
		b.WriteString(prefix + block(m.Title, "    ") + "\n")
	}
	for _, l := range m.Lines {
		b.WriteString("  " + block(l, "    ") + "\n")
	}
	width := 0
	for _, f := range m.Fields {
		width = max(width, len(f.Label))
	}
	for _, f := range m.Fields {
		b.WriteString("  " + block(f.Label, "    ") + strings.Repeat(" ", width-len(f.Label)) + "  " +
			block(f.Value, strings.Repeat(" ", 2+width+2)) + "\n")
	}
	for _, btn := range m.Buttons {
		b.WriteString("  → " + block(btn.Label, "    ") + ": " + block(btn.Action, "    ") + "\n")
	}
	return b.String()
}

// block is s with every line after the first indented by indent, any
// line break (\r\n, \r, \n) made a \n, and other control characters
// replaced by �.
func block(s string, indent string) string {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	s = strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return unicode.ReplacementChar
		}
		return r
	}, s)
	return strings.ReplaceAll(s, "\n", "\n"+indent)
}
