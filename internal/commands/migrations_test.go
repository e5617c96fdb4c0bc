package commands_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestMigrationsLine: how far a deploy's migrations got, as status and
// the interrupted message say it; nothing for a record that does not say
// (a rollback, an app without migrations).
func TestMigrationsLine(t *testing.T) {
	pending := []string{"002_email.sql", "003_index.sql"}
	tests := []struct {
		state deploy.MigrationState
		names []string
		want  string
	}{
		{"", nil, ""},
		{deploy.MigrationsNotStarted, nil, "migrations: not started (none listed yet)"},
		{deploy.MigrationsNotStarted, pending, "migrations: not started (002_email.sql, 003_index.sql): this deploy ran none"},
		{deploy.MigrationsNone, nil, "migrations: none were pending"},
		{deploy.MigrationsRunning, pending, "⚠ migrations: RUNNING when it stopped (002_email.sql, 003_index.sql): some, all or none may be applied; check the database before rolling back"},
		{deploy.MigrationsDone, pending, "migrations: done (002_email.sql, 003_index.sql): they stay applied, a rollback does not undo them"},
		{deploy.MigrationsFailed, pending, "⚠ migrations: failed (002_email.sql, 003_index.sql): some may be applied; check the database before rolling back"},
		{deploy.MigrationsDone, []string{"1", "2", "3", "4", "5", "6", "7"}, "migrations: done (1, 2, 3, 4, 5 and 2 more): they stay applied, a rollback does not undo them"},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			r := &deploy.Record{Kind: deploy.KindDeploy, MigrationState: tt.state, Migrations: tt.names}
			if got := commands.MigrationsLine(r); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
