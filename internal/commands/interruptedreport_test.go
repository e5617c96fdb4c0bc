package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestInterruptedRunsOwnReport: a run that lost its lease and recorded
// itself interrupted (no other replica took the app+env over: a store
// outage past lease_ttl, a long pause nobody noticed) has no recovery to
// report it; its own final message is the report, and says what the
// recovery's would: how far its migrations got, and the Rollback that
// undoes that run only.
func TestInterruptedRunsOwnReport(t *testing.T) {
	const id = "20261123-120000-abcdef"
	lost := "this replica lost the deploy lease (it ran out, or the state store could not confirm it), so it stopped before touching more hosts; hosts are left as they are: roll back, or deploy again"
	tests := []struct {
		name            string
		kind            deploy.Kind
		build, previous string
		migrations      deploy.MigrationState
		action          string // "" for no button
		line            string // "" for none
	}{
		{"a deploy after its migrations", deploy.KindDeploy, "2", "1", deploy.MigrationsDone,
			"rollback web prod to 1 from 2", "migrations: done (002_email): they stay applied, a rollback does not undo them"},
		{"a deploy during its migrations", deploy.KindDeploy, "2", "1", deploy.MigrationsRunning,
			"rollback web prod to 1 from 2", "⚠ migrations: RUNNING when it stopped (002_email)"},
		{"a rollback", deploy.KindRollback, "1", "2", "",
			"rollback web prod to 1 from 2", ""},
		{"a first deploy: nothing to go back to", deploy.KindDeploy, "1", "", deploy.MigrationsNone,
			"", "migrations: none were pending"},
	}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &deploy.Record{ID: id, Kind: tt.kind, App: "web", Env: "prod", Build: tt.build, Previous: tt.previous,
				Requester: "ana", Started: t0, Finished: t0.Add(time.Minute), Outcome: deploy.OutcomeInterrupted, Error: lost,
				MigrationState: tt.migrations,
				Hosts:          []deploy.HostResult{{Host: "web1", State: deploy.HostActive, Current: tt.build, Previous: tt.previous, Switched: true}}}
			if tt.migrations != "" && tt.migrations != deploy.MigrationsNone {
				r.Migrations = []string{"002_email"}
			}
			m := commands.FinalMessage(r, r.Finished)
			var got []string
			for _, b := range m.Buttons {
				got = append(got, b.Action)
			}
			switch {
			case tt.action == "" && len(got) > 0:
				t.Errorf("buttons: got %q, want none", got)
			case tt.action != "" && (len(got) != 1 || got[0] != tt.action || m.Buttons[0].Short != "rollback "+id):
				t.Errorf("buttons: got %+v, want one sending %q (short form rollback %s)", m.Buttons, tt.action, id)
			}
			if text := chat.Text(m); tt.line != "" && !strings.Contains(text, tt.line) {
				t.Errorf("message: got\n%s\nwant a line with %q", text, tt.line)
			}
		})
	}
}
