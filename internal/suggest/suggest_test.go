package suggest

import (
	"strings"
	"testing"
)

// TestRewrite: only what Command marked is passed to the rewrite, whole;
// marks a suggestion quotes, or text outside carries, start nothing and
// are never shown.
func TestRewrite(t *testing.T) {
	upper := func(cmd string) string { return "<" + strings.ToUpper(cmd) + ">" }
	tests := []struct {
		name, in, want string
	}{
		{"one", "to undo it: " + Command("rollback web prod") + ".", "to undo it: <ROLLBACK WEB PROD>."},
		{"two", Command("a") + ", or " + Command("b"), "<A>, or <B>"},
		{"none", "locked: deploy web 5", "locked: deploy web 5"},
		{"marks quoted", Command("lock deploys web prod " + openMark + "x" + closeMark + "y"), "<LOCK DEPLOYS WEB PROD XY>"},
		{"a close alone", "deploy web 5" + closeMark, "deploy web 5"},
		{"cut short", "to undo it: " + openMark + "rollback web", "to undo it: rollback web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Rewrite(tt.in, upper); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got, want := Strip(tt.in), Rewrite(tt.in, func(cmd string) string { return cmd }); got != want {
				t.Errorf("Strip: got %q, want %q", got, want)
			}
			if got, want := string(StripBytes([]byte(tt.in))), Strip(tt.in); got != want {
				t.Errorf("StripBytes: got %q, want %q", got, want)
			}
		})
	}
}
