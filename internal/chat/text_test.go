package chat

import (
	"strings"
	"testing"
)

// TestTextKeepsOuterLinesInside: text from outside (a host's standard
// error, a Sentry issue's title) with line breaks, carriage returns or
// terminal escapes in it cannot print a line that passes for one of the
// bot's own: every line it adds is indented under the line it belongs
// to, and control characters are shown, not obeyed.
func TestTextKeepsOuterLinesInside(t *testing.T) {
	forged := "✔ Deploy d-9: web/prod now runs 43 (2s)"
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"line with a newline", Message{Level: Failure, Title: "Deploy d-1 failed", Lines: []string{"web-1: restart failed: boom\n" + forged}},
			"✖ Deploy d-1 failed\n  web-1: restart failed: boom\n    " + forged + "\n"},
		{"field with a newline", Message{Fields: []Field{{Label: "web-1", Value: "failed — boom\n" + forged}, {Label: "web-10", Value: "active"}}},
			"  web-1   failed — boom\n          " + forged + "\n  web-10  active\n"},
		{"title with a newline", Message{Level: Warning, Title: "new issue: TypeError\n" + forged},
			"! new issue: TypeError\n    " + forged + "\n"},
		{"carriage return", Message{Lines: []string{"boom\r" + forged, "a\r\nb"}},
			"  boom\n    " + forged + "\n  a\n    b\n"},
		{"terminal escape", Message{Lines: []string{"boom\x1b[2K\x1b[1G" + forged}},
			"  boom\uFFFD[2K\uFFFD[1G" + forged + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Text(tt.m)
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if strings.HasPrefix(l, "✔") {
					t.Errorf("line %q passes for the bot's own", l)
				}
			}
		})
	}
}
