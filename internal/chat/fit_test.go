package chat_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/chat"
)

// cut is a platform's fit without escapes: s cut to n characters, the
// last ones saying how many were left out.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	note := fmt.Sprintf("…%d", len(r))
	keep := max(0, n-utf8.RuneCountInString(note))
	return string(r[:keep]) + fmt.Sprintf("…%d", len(r)-keep)
}

func TestFitLines(t *testing.T) {
	long := strings.Repeat("x", 500)
	tests := []struct {
		name  string
		lines []string
		n     int
		want  []string // lines of the result
	}{
		{"fits", []string{"a", "b"}, 3, []string{"a", "b"}},
		{"longest cut first", []string{"bar", long, "prompt"}, 200,
			[]string{"bar", strings.Repeat("x", 185) + "…315", "prompt"}},
		{"long lines share the room", []string{long, "p", long}, 203,
			[]string{strings.Repeat("x", 96) + "…404", "p", strings.Repeat("x", 96) + "…404"}},
		{"too many lines: cut as one text", []string{long, long, long, "prompt"}, 200,
			[]string{strings.Repeat("x", 195) + "…1314"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chat.FitLines(tt.lines, tt.n, cut)
			if n := utf8.RuneCountInString(got); n > tt.n {
				t.Errorf("got %d characters, want at most %d", n, tt.n)
			}
			if want := strings.Join(tt.want, "\n"); got != want {
				t.Errorf("got\n%q\nwant\n%q", got, want)
			}
		})
	}
}
