package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestNTwiceWithAnotherSlip: "audit accounting accounting 5 5" was
// answered `N is written twice ("5" and "5"); write it once, last: audit
// accounting accounting 5`, a command refused in turn for its app
// written twice. The command offered for N written twice is checked as
// every slip's is now, and fixes the other slip too.
func TestNTwiceWithAnotherSlip(t *testing.T) {
	tests := []struct{ name, in, want, run string }{
		{"audit, app twice", "audit accounting accounting 5 5",
			`N is written twice ("5" and "5"); write it once, last, and "accounting" is written twice; write it once: ` + suggest.Command("audit accounting 5"),
			"audit accounting 5"},
		{"history, N twice after env twice", "history accounting production production 5 7",
			`"production" is written twice; write it once, and N is written twice ("5" and "7"); write it once, last: ` + suggest.Command("history accounting production 7"),
			"history accounting production 7"},
		{"history, app twice", "history accounting accounting 5 5",
			`"accounting" is written twice; write it once, and N is written twice ("5" and "5"); write it once, last: ` + suggest.Command("history accounting 5"),
			"history accounting 5"},
		{"audit alone", "audit accounting 5 5",
			`N is written twice ("5" and "5"); write it once, last: ` + suggest.Command("audit accounting 5"),
			"audit accounting 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want+"\n") {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, tt.run)
		})
	}
}
