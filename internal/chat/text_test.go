package chat

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
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

// TestTextShowsReorderingAndBreaks: an invisible character that reorders
// the rest of a line (U+202E, the right-to-left override) would make text
// from outside read as something else; it is shown as �. U+2028 and
// U+2029, which Slack's and Discord's clients show as line breaks, are
// line breaks like \n, so the line they start is indented too.
func TestTextShowsReorderingAndBreaks(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"right-to-left override", Message{Lines: []string{"new: TypeError \u202e04 ot kcab dellor"}},
			"  new: TypeError \uFFFD04 ot kcab dellor\n"},
		{"isolate", Message{Title: "boom \u2067x\u2069"}, "boom \uFFFDx\uFFFD\n"},
		{"line separator", Message{Lines: []string{"boom\u2028✔ Deploy d-9: web/prod now runs 43 (2s)"}},
			"  boom\n    ✔ Deploy d-9: web/prod now runs 43 (2s)\n"},
		{"paragraph separator", Message{Fields: []Field{{Label: "web-1", Value: "boom\u2029ok"}}},
			"  web-1  boom\n         ok\n"},
		{"right-to-left text and its marks", Message{Lines: []string{"שלום \u200fעולם\u200e 42"}},
			"  שלום \u200fעולם\u200e 42\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.m); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTextSuggestionsAsTyped: the console shows the commands the bot
// suggests as typed, without the marks Discord's renderer reads (see
// suggest).
func TestTextSuggestionsAsTyped(t *testing.T) {
	undo := "to undo it: " + suggest.Command("rollback web prod")
	got := Text(Message{Level: Warning, Title: undo, Lines: []string{undo}, Fields: []Field{{Label: "next", Value: undo}}})
	want := "! to undo it: rollback web prod\n  to undo it: rollback web prod\n  next  to undo it: rollback web prod\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
