package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestPendingEntryOfAnIDNamesItsApp: a command that names a deploy by id
// alone (rollback DEPLOY-ID, deploy confirm|abort ID) wrote its pending
// entry with no app, only its outcome entry getting it: when the outcome
// was never written (the bot died while it ran), `audit web` did not show
// the command at all. The pending entry now carries the app and env the
// id resolves to; an id that resolves to none is still audited.
func TestPendingEntryOfAnIDNamesItsApp(t *testing.T) {
	const id, unknown = "20261206-120000-abcdef", "20261206-120000-fedcba"
	f := newServiceFixture(t)
	start := time.Now().Add(-time.Hour)
	if err := f.store.PutRecord(t.Context(), &deploy.Record{ID: id, Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "bob", Started: start, Finished: start.Add(time.Minute), Outcome: deploy.OutcomeFailed, Error: "health check failed",
		Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostFailed, Current: "1"}}}); err != nil {
		t.Fatal(err)
	}
	// Every outcome entry fails, as one the bot died before writing.
	st := &outcomeFails{Store: f.store}
	svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
	tests := []struct {
		user, text string
		app, env   string
	}{
		{"bob", "rollback " + id, "web", "prod"},
		{"bob", "deploy confirm " + id, "web", "prod"},
		{"ana", "deploy abort " + id, "web", "prod"},
		// carl may not roll web back: the log, which admins read, still
		// says what the id named.
		{"carl", "rollback " + id, "web", "prod"},
		{"bob", "rollback " + unknown, "", ""},
		{"bob", "deploy confirm " + unknown, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.text, func(t *testing.T) {
			svc.Handle(context.Background(), commands.Request{User: tt.user, Platform: "test", Channel: "C1", Text: tt.text}, newRecorder())
			raw, err := f.store.Audit(t.Context(), audit.Query{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != 1 || raw[0].Decision != audit.Pending || raw[0].Command != tt.text || raw[0].User != tt.user {
				t.Fatalf("audit: got %+v, want the pending entry of %q by %s", raw, tt.text, tt.user)
			}
			if raw[0].App != tt.app || raw[0].Env != tt.env {
				t.Errorf("pending entry: got app %q env %q, want %q %q", raw[0].App, raw[0].Env, tt.app, tt.env)
			}
			if tt.app == "" {
				return
			}
			shown, err := f.store.Audit(t.Context(), audit.Query{App: tt.app, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got := audit.Fold(shown); len(got) != 1 || got[0].Command != tt.text || got[0].Decision != audit.Unknown {
				t.Errorf("audit %s: got %+v, want %q shown as unknown", tt.app, got, tt.text)
			}
		})
	}
}
