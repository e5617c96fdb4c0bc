package chat

import "strings"

// Text renders m as plain text lines: the console's renderer, and the
// fallback text other platforms show in notifications.
func Text(m Message) string {
	var b strings.Builder
	prefix := map[Level]string{Success: "✔ ", Warning: "! ", Failure: "✖ "}[m.Level]
	if m.Title != "" {
		b.WriteString(prefix + m.Title + "\n")
	}
	for _, l := range m.Lines {
		b.WriteString("  " + l + "\n")
	}
	width := 0
	for _, f := range m.Fields {
		width = max(width, len(f.Label))
	}
	for _, f := range m.Fields {
		b.WriteString("  " + f.Label + strings.Repeat(" ", width-len(f.Label)) + "  " + f.Value + "\n")
	}
	for _, btn := range m.Buttons {
		b.WriteString("  → " + btn.Label + ": " + btn.Action + "\n")
	}
	return b.String()
}
