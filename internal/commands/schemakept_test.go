package commands_test

import (
	"slices"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRollbackReportSaysMigrationsStay: the final report of a rollback,
// which replaces its progress message, says which migrations stay
// applied (see deploy.Record.SchemaKept), whatever its outcome: a
// rollback that failed half-way has switched hosts back all the same.
func TestRollbackReportSaysMigrationsStay(t *testing.T) {
	const kept = "the migrations run since 1 stay applied: 002_email.sql (deploy 20261123-120000-abcdef of 2); a rollback does not undo them, and 1 now runs on the migrated database"
	tests := []struct {
		name    string
		outcome deploy.Outcome
		kept    string
		want    bool
	}{
		{name: "succeeded", outcome: deploy.OutcomeSucceeded, kept: kept, want: true},
		{name: "failed", outcome: deploy.OutcomeFailed, kept: kept, want: true},
		{name: "no migrations ran", outcome: deploy.OutcomeSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &deploy.Record{ID: "20261123-130000-fedcba", Kind: deploy.KindRollback, App: "web", Env: "prod", Build: "1", Previous: "2",
				Outcome: tt.outcome, Started: t0, Finished: t0.Add(time.Second), SchemaKept: tt.kept}
			m := commands.FinalMessage(rec, rec.Finished)
			if got := slices.Contains(m.Lines, "⚠ "+kept); got != tt.want {
				t.Errorf("lines %q: got the warning %v, want %v", m.Lines, got, tt.want)
			}
		})
	}
}
