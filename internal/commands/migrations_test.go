package commands_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestMigrationsLine: how far a deploy's migrations got, as status and
// the interrupted message say it; nothing for a record that does not say
// (a rollback, an app without migrations). A deploy recorded before the
// state was, with pending migrations listed, may have run them.
func TestMigrationsLine(t *testing.T) {
	pending := []string{"002_email.sql", "003_index.sql"}
	tests := []struct {
		name  string
		kind  deploy.Kind
		state deploy.MigrationState
		names []string
		host  string
		want  string
	}{
		{"none", deploy.KindDeploy, "", nil, "", ""},
		{"rollback", deploy.KindRollback, "", pending, "", ""},
		{"earlier version", deploy.KindDeploy, "", pending, "", "⚠ migrations: pending (002_email.sql, 003_index.sql), and this deploy's record, by an earlier version of the bot, does not say whether it ran them: some, all or none may be applied; check the database before rolling back"},
		{"", deploy.KindDeploy, deploy.MigrationsNotStarted, nil, "", "migrations: not started (none listed yet)"},
		{"", deploy.KindDeploy, deploy.MigrationsNotStarted, pending, "", "migrations: not started (002_email.sql, 003_index.sql): this deploy ran none"},
		{"", deploy.KindDeploy, deploy.MigrationsNone, nil, "", "migrations: none were pending"},
		{"", deploy.KindDeploy, deploy.MigrationsRunning, pending, "", "⚠ migrations: RUNNING when it stopped (002_email.sql, 003_index.sql): some, all or none may be applied; check the database before rolling back"},
		{"", deploy.KindDeploy, deploy.MigrationsDone, pending, "", "migrations: done (002_email.sql, 003_index.sql): they stay applied, a rollback does not undo them"},
		{"", deploy.KindDeploy, deploy.MigrationsFailed, pending, "", "⚠ migrations: failed (002_email.sql, 003_index.sql): some may be applied; check the database before rolling back"},
		{"running, its host recorded", deploy.KindDeploy, deploy.MigrationsRunning, pending, "web1", "⚠ migrations: RUNNING on web1 when it stopped (002_email.sql, 003_index.sql): some, all or none may be applied; check the database before rolling back"},
		{"done, its host recorded", deploy.KindDeploy, deploy.MigrationsDone, pending, "web1", "migrations: done on web1 (002_email.sql, 003_index.sql): they stay applied, a rollback does not undo them"},
		{"failed, its host recorded", deploy.KindDeploy, deploy.MigrationsFailed, pending, "web1", "⚠ migrations: failed on web1 (002_email.sql, 003_index.sql): some may be applied; check the database before rolling back"},
		{"", deploy.KindDeploy, deploy.MigrationsDone, []string{"1", "2", "3", "4", "5", "6", "7"}, "", "migrations: done (1, 2, 3, 4, 5 and 2 more): they stay applied, a rollback does not undo them"},
	}
	for _, tt := range tests {
		name := tt.name
		if name == "" {
			name = string(tt.state)
		}
		t.Run(name, func(t *testing.T) {
			r := &deploy.Record{Kind: tt.kind, MigrationState: tt.state, Migrations: tt.names, MigrationHost: tt.host}
			if got := commands.MigrationsLine(r); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
