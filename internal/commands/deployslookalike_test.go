package commands

import (
	"strings"
	"testing"
)

// TestLookalikeDeploys: "lock dеploys …" with a Cyrillic е was told to
// write "lock deploys", which is what it reads as already.
func TestLookalikeDeploys(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"lock", "lock d\u0435ploys accounting db migration"},
		{"unlock", "unlock d\u0435ploys accounting"},
		{"lock full-width", "lock \uff44\uff45\uff50\uff4c\uff4f\uff59\uff53 db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			const want = `looks like "deploys" but is written with other characters`
			if got.Kind != Reply || !strings.Contains(got.Reply, want) {
				t.Errorf("Parse(%q): got %v %q, want a reply containing %q", tt.in, got.Kind, got.Reply, want)
			}
		})
	}
}
