package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestNoEnvOffered: "status accounting production" was answered "status
// takes no env; status accounting shows every env of accounting" with
// the command in it unmarked, so that Discord showed it as text where
// every other refusal's command is one to send. It is marked now, with
// the app as written and audit's N kept.
func TestNoEnvOffered(t *testing.T) {
	checkReplies(t, []replyCase{
		{"status", "status accounting production",
			"status takes no env; " + suggest.Command("status accounting") + " shows every env of accounting"},
		{"status, quoted app", `status "accounting" production`,
			"status takes no env; " + suggest.Command(`status "accounting"`) + " shows every env of accounting"},
		{"audit", "audit accounting production",
			"audit takes no env; " + suggest.Command("audit accounting") + " shows every env of accounting"},
		{"audit, N kept", "audit accounting production 5",
			"audit takes no env; " + suggest.Command("audit accounting 5") + " shows every env of accounting"},
	})
	// The commands offered parse back to what was meant.
	for _, tt := range []struct{ in, want string }{
		{"status accounting", "status accounting"},
		{`status "accounting"`, "status accounting"},
		{"audit accounting", "audit accounting 20"},
		{"audit accounting 5", "audit accounting 5"},
	} {
		if got := Parse(tt.in, testCat(), Options{}); got.Kind != Run || got.Cmd.Text != tt.want {
			t.Errorf("Parse(%q): got %v %q (%s), want a run of %q", tt.in, got.Kind, got.Cmd.Text, got.Reply, tt.want)
		}
	}
}
