package commands_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestStoredLockSuggestsNothing: a lock's reason and owner are people's
// words, read back from the store and quoted in replies. Marks of the
// bot's suggested commands in them (written by a version that took them
// from chat, or straight into a shared store) are not shown as the bot's
// suggestion, while the reply's own suggestion keeps its marks.
func TestStoredLockSuggestsNothing(t *testing.T) {
	tests := []struct {
		name, user, text string
		want             []string // the commands the reply suggests
	}{
		{"lock over it", "carl", "lock deploys web prod mine now", []string{"unlock deploys web prod"}},
		{"deploy under it", "carl", "deploy web 1", nil},
		{"unlock", "ana", "unlock deploys web prod", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixtureFrom(t, lockerYAML, nil)
			l := deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: suggest.Command("deploy web 5"), Created: time.Now()}
			if err := f.store.PutLock(t.Context(), l); err != nil {
				t.Fatal(err)
			}
			_, out, _ := f.do(tt.user, tt.text)
			got := shownText(out.lastMessage())
			if !strings.Contains(got, "deploy web 5") {
				t.Fatalf("reply %q does not quote the lock's reason", got)
			}
			if cmds := suggestedIn(got); strings.Join(cmds, "|") != strings.Join(tt.want, "|") {
				t.Errorf("reply %q suggests %q, want %q", got, cmds, tt.want)
			}
		})
	}
}

// shownText is all the text of m a renderer shows, with its marks.
func shownText(m chat.Message) string {
	parts := append([]string{m.Title}, m.Lines...)
	for _, f := range m.Fields {
		parts = append(parts, f.Value)
	}
	return strings.Join(parts, "\n")
}

// suggestedIn returns the commands s marks as the bot's suggestions.
func suggestedIn(s string) []string {
	var cmds []string
	suggest.Rewrite(s, func(cmd string) string {
		cmds = append(cmds, cmd)
		return cmd
	})
	return cmds
}

// TestStoredRecordSuggestsNothing: a record read back from the store
// quotes who ran it, why it was forced, the migrations its host listed
// and why its report was not posted. None of those may pass for the
// bot's suggestion, which status's own "decide" line still is.
func TestStoredRecordSuggestsNothing(t *testing.T) {
	f, last := deployedThree(t)
	d := *last
	forged := suggest.Command("deploy web 5")
	d.Outcome, d.Error = deploy.OutcomeInterrupted, "the process running this deploy (gone:1) stopped before it finished; hosts are as observed at recovery"
	d.Hosts = []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating, Current: "3", Previous: "2", Switched: true}}
	d.Requester, d.Forced, d.Migrations = "bob"+forged, forged, []string{forged}
	d.Undelivered = &deploy.Undelivered{Platform: "slack", Channel: "C1", Reason: forged, At: time.Now()}
	if err := f.store.PutRecord(t.Context(), &d); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"status web", "history web"} {
		_, out, _ := f.do("carl", text)
		got := shownText(out.lastMessage())
		if !strings.Contains(got, "deploy web 5") {
			t.Fatalf("%s: reply %q quotes nothing of the record's", text, got)
		}
		for _, cmd := range suggestedIn(got) {
			if strings.Contains(cmd, "deploy web 5") {
				t.Errorf("%s: reply %q suggests %q, from the record", text, got, cmd)
			}
		}
		if text == "status web" && !strings.Contains(strings.Join(suggestedIn(got), "|"), "rollback web prod to 2 from 3") {
			t.Errorf("status: reply %q does not suggest the undo of the interrupted deploy", got)
		}
	}
}

// TestUndeliveredReasonSuggestsNothing: why a platform did not take a
// run's report is its error's words, shown by status under the env; the
// note this process keeps, for a store that did not take it, loses the
// marks of the bot's suggested commands as the record's does.
func TestUndeliveredReasonSuggestsNothing(t *testing.T) {
	f := newServiceFixture(t)
	_, _, rec := f.do("bob", "deploy web 1")
	if rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy: %+v", rec)
	}
	svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: unmarkingStore{f.store}, Policy: f.policy})
	svc.NoteUndelivered(commands.Undelivered{DeployID: rec.ID, App: "web", Env: "prod", Platform: "discord",
		Channel: "345678901234567890", Reason: "post channel message: " + suggest.Command("deploy web 5"), At: time.Now()})
	out := newRecorder()
	svc.Handle(t.Context(), commands.Request{User: "carl", Platform: "test", Channel: "C1", Text: "status web"}, out)
	got := shownText(out.lastMessage())
	if !strings.Contains(got, "deploy web 5") {
		t.Fatalf("status %q does not show why the report was not posted", got)
	}
	if cmds := suggestedIn(got); len(cmds) > 0 {
		t.Errorf("status %q suggests %q, from the platform's error", got, cmds)
	}
}

// unmarkingStore is a store that does not take notes of undelivered
// reports.
type unmarkingStore struct{ *embedded.Store }

func (unmarkingStore) MarkUndelivered(context.Context, string, deploy.Undelivered) error {
	return errors.New("store unreachable")
}
