package deploy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestFirstLine checks how a health answer's body is quoted in errors:
// its first line, cut at 200 characters, never inside one.
func TestFirstLine(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"short", "  down: db\nmore", "down: db"},
		{"ascii cut", strings.Repeat("a", 250), strings.Repeat("a", 200) + "…"},
		{"three-byte characters cut", strings.Repeat("€", 250), strings.Repeat("€", 200) + "…"},
		{"exactly 201", strings.Repeat("ł", 201), strings.Repeat("ł", 201)},
	}
	for _, tt := range tests {
		got := firstLine([]byte(tt.body), nil)
		if !utf8.ValidString(got) {
			t.Errorf("%s: firstLine = %q, not valid UTF-8", tt.name, got)
		}
		if got != tt.want {
			t.Errorf("%s: firstLine = %q, want %q", tt.name, got, tt.want)
		}
	}
}
