package deploy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestPromptOffersItsAnswers: the migrations prompt offers the two
// answers as the bot's suggested commands, whole, with the deploy's id;
// they were written as plain words.
func TestPromptOffersItsAnswers(t *testing.T) {
	f := newFixtureFrom(t, askingYAML("true", "1h"), &local.Transport{})
	f.build("1", tarEntry{name: "migrations/001.sql", body: "x"})
	d := f.deployAsking(t, "1")
	d.mu.Lock()
	prompt := d.prompt
	d.mu.Unlock()
	id := d.rec.ID
	if want := " pending migration(s) wait for confirmation: deploy confirm " + id + ", or deploy abort " + id; !strings.HasSuffix(suggest.Strip(prompt), want) {
		t.Errorf("prompt: got %q, want it to end %q", suggest.Strip(prompt), want)
	}
	got := offered(t, f.cfg, prompt)
	want := []commands.Verb{commands.VerbConfirm, commands.VerbAbort}
	if len(got) != len(want) {
		t.Errorf("prompt %q offers %+v, want %s and %s of deploy %s", prompt, got, want[0], want[1], id)
	}
	for i := range min(len(got), len(want)) {
		if got[i].Verb != want[i] || got[i].DeployID != id {
			t.Errorf("offer %d: got %s of deploy %q, want %s of deploy %s", i, got[i].Verb, got[i].DeployID, want[i], id)
		}
	}
	if err := f.engine.Confirm(t.Context(), id, "ana", false); err != nil {
		t.Fatal(err)
	}
	select {
	case rec := <-d.done:
		if rec.Outcome == deploy.OutcomeSucceeded {
			t.Errorf("aborted deploy: got %s, want it aborted", rec.Outcome)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the aborted deploy never ended")
	}
}
