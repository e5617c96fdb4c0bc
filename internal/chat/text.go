package chat

import (
	"strings"
	"unicode"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// Text renders m as plain text lines: the console's renderer, and the
// fallback text other platforms show in notifications.
//
// Text from outside (a host's standard error, a Sentry issue's title) may
// hold line breaks and control characters: each line it adds is indented
// under the line it belongs to, and control characters are shown as �
// (see Clean), so that nothing in it prints a line that passes for one of
// the bot's own or moves a terminal's cursor.
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

// block is s made Clean, with every line after the first indented by
// indent.
func block(s string, indent string) string {
	return strings.ReplaceAll(Clean(s), "\n", "\n"+indent)
}

// lineBreaks are the line breaks other than \n: a browser (where Slack and
// Discord show messages) breaks the line at U+2028 and U+2029 too.
var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n")

// Clean readies text from outside (a host's standard error, a Sentry
// issue's title) for a message. Every line break becomes a \n, so that a
// renderer sees where each line starts. Control characters other than \n
// and \t, and the invisible characters that reorder the text after them
// (the right-to-left override U+202E, embeddings and isolates), become
// �: shown, not obeyed, so that they neither move a terminal's cursor
// nor make a line read as something else (after a U+202E, "04 ot kcab
// dellor" reads "rolled back to 40"). The marks of the bot's suggested
// commands are taken out (see suggest): a renderer that rewrites them does
// so first. Every renderer cleans every text it shows.
func Clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) || isReordering(r) {
			return unicode.ReplacementChar
		}
		return r
	}, lineBreaks.Replace(suggest.Strip(s)))
}

// isReordering reports whether r is a bidirectional embedding, override or
// isolate. The marks U+200E and U+200F, which right-to-left text uses and
// which reorder nothing past their neighbours, are left alone.
func isReordering(r rune) bool {
	return '\u202a' <= r && r <= '\u202e' || '\u2066' <= r && r <= '\u2069'
}
