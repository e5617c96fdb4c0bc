package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestConfirmMessageOffersItsAnswers: the migrations prompt offers its two
// answers as the bot's suggested commands, with the deploy's id, each one
// the parser runs as the answer it names whatever apps there are (apps
// named confirm and abort too); shown as text, they read as typed.
func TestConfirmMessageOffersItsAnswers(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 41, 58, 0, time.UTC)
	m := ConfirmMessage(deploy.Event{Kind: deploy.EventConfirm, DeployID: deployID, App: "accounting", Env: "production", Build: "1337",
		Migrations: []string{"0042_drop_column"}, Time: now, Deadline: now.Add(10 * time.Minute)})
	var offers []string
	for _, l := range append([]string{m.Title}, m.Lines...) {
		suggest.Rewrite(l, func(cmd string) string {
			offers = append(offers, cmd)
			return cmd
		})
	}
	want := []Command{
		{Verb: VerbConfirm, DeployID: deployID, Text: "deploy confirm " + deployID},
		{Verb: VerbAbort, DeployID: deployID, Text: "deploy abort " + deployID},
	}
	if len(offers) != len(want) {
		t.Fatalf("prompt %q offers %q, want deploy confirm %s and deploy abort %s", chat.Text(m), offers, deployID, deployID)
	}
	for i, cmd := range offers {
		for name, cat := range map[string]Catalog{"test": testCat(), "apps named like the keywords": namedCat()} {
			if got := Parse(cmd, cat, Options{}); got.Kind != Run || got.Cmd != want[i] {
				t.Errorf("%s: offer %q: got %v %+v (reply %q), want run %+v", name, cmd, got.Kind, got.Cmd, got.Reply, want[i])
			}
		}
	}
	wantLine := "confirm with deploy confirm " + deployID + ", or abort with deploy abort " + deployID + ", before 12:51:58 UTC"
	if got := chat.Text(m); !strings.Contains(got, wantLine) || strings.ContainsAny(got, "\ue000\ue001") {
		t.Errorf("shown as text: got %q, want it to contain %q, without marks", got, wantLine)
	}
}
