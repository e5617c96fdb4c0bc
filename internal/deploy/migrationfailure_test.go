package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestMigrationFailuresSayWhy: when the backup, the migrations' list or
// their run fails, the deploy's record (which status, history and the
// final report show) quotes what the command printed on its way out, not
// only that it failed: "failed on web1" alone leaves the person who must
// check the database to find the host, log in and run it again. Nothing
// is migrated after a failed backup, and nothing switches.
func TestMigrationFailuresSayWhy(t *testing.T) {
	const list = `      list: 'for m in $(ls migrations 2>/dev/null); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m"; done'`
	const run = `      run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`
	const hosts = "        hosts: [localhost]"
	fail := func(msg string) string { return fmt.Sprintf(`echo %q >&2; exit 3`, msg) }
	tests := []struct {
		name     string
		old, new string // a line of fixtureYAML, and what replaces it
		want     string
	}{
		{name: "migrations run", old: run,
			new:  "      run: '" + fail("ERROR:  column \"email\" of relation \"users\" already exists") + "'",
			want: "migrations failed on localhost (exit status 3: ERROR:  column \"email\" of relation \"users\" already exists); nothing was switched; none ran to its end; still pending: 001_users.sql"},
		{name: "migrations list", old: list,
			new:  "      list: '" + fail("FATAL:  database \"web\" does not exist") + "'",
			want: "listing migrations failed on localhost (exit status 3: FATAL:  database \"web\" does not exist); nothing was switched"},
		{name: "backup", old: hosts,
			new:  hosts + "\n        backup: '" + fail("pg_dump: error: connection to server failed: FATAL:  password authentication failed for user \"app\"") + "'",
			want: "the backup before migrations failed on localhost (exit status 3: pg_dump: error: connection to server failed: FATAL:  password authentication failed for user \"app\"); nothing was migrated or switched"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := fmt.Sprintf(fixtureYAML, "true")
			if !strings.Contains(yaml, tc.old) {
				t.Fatalf("the fixture has no line %q; update this test", tc.old)
			}
			f := newFixtureFrom(t, strings.Replace(yaml, tc.old, tc.new, 1), &local.Transport{})
			f.build("1")
			rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeFailed)
			if !strings.Contains(rec.Error, tc.want) {
				t.Errorf("record error:\n got %q\nwant it to contain %q", rec.Error, tc.want)
			}
			if f.exists("applied") {
				t.Errorf("applied %q, want no migration run", f.read("applied"))
			}
			if got := f.link("current"); got != "" {
				t.Errorf("current -> %q, want no switch", got)
			}
		})
	}
}

// TestBackupIsPrivate: a backup holds the whole database, its users'
// password hashes and personal data included. What the backup command
// writes is its user's alone, whatever the umask of the host's login
// (022 commonly, which left a dump readable by every account there).
func TestBackupIsPrivate(t *testing.T) {
	const hosts = "        hosts: [localhost]"
	backup := `mkdir -p shared/backups && echo "COPY users (email) FROM stdin;" > shared/backups/web-$SWITCHMAN_BUILD.sql`
	yaml := fmt.Sprintf(fixtureYAML, "umask > restart-umask")
	f := newFixtureFrom(t, strings.Replace(yaml, hosts, hosts+"\n        backup: '"+backup+"'", 1), &local.Transport{})
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	for _, p := range []string{"shared/backups", "shared/backups/web-1.sql"} {
		st, err := os.Stat(filepath.Join(f.app, p))
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s: mode %v, want no access for group or others", p, perm)
		}
	}
	// Only the backup: the other steps keep the host's umask.
	if got := strings.TrimSpace(f.read("restart-umask")); got == "0077" {
		t.Errorf("the restart ran with umask %s, want the host's", got)
	}
}

// TestRollbackSaysMigrationsStay: a rollback never undoes a migration.
// After deploys that migrated, the rollback says which migrations stay
// applied (by which deploy), in its progress and in its record, which
// its final report shows: the release it goes back to now runs on a
// schema it was not written for, and whoever rolls back must know to
// check it. Migrations of the release rolled back to itself, or of a
// deploy refused before it migrated, are not named.
func TestRollbackSaysMigrationsStay(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	f.build("2", tarEntry{name: "migrations/002_email.sql", body: "x"})
	f.build("3", tarEntry{name: "migrations/002_email.sql", body: "x"}, tarEntry{name: "migrations/003_index.sql", body: "y"})
	f.build("4", tarEntry{name: "migrations/002_email.sql", body: "x"}, tarEntry{name: "migrations/003_index.sql", body: "y"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	d2 := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	d3 := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)

	rb := f.mustRun(deploy.KindRollback, "1", deploy.OutcomeSucceeded)
	want := fmt.Sprintf("the migrations run since 1 stay applied: 002_email.sql (deploy %s of 2); 003_index.sql (deploy %s of 3); a rollback does not undo them, and 1 now runs on the migrated database", d2.ID, d3.ID)
	if rb.SchemaKept != want {
		t.Errorf("rollback to 1: got %q, want %q", rb.SchemaKept, want)
	}
	if !f.sawNote("⚠ " + want) {
		t.Errorf("rollback to 1: no note %q", "⚠ "+want)
	}

	// Deploying 4 migrates nothing (its migrations ran already): a
	// rollback from it names only what ran since 1 last ran, by the
	// rollback above, and that is nothing.
	f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded)
	rb = f.mustRun(deploy.KindRollback, "1", deploy.OutcomeSucceeded)
	if rb.SchemaKept != "" {
		t.Errorf("rollback from 4, which migrated nothing, to 1: got %q, want nothing", rb.SchemaKept)
	}
}

// TestBackupHasItsOwnTimeout: the backup is bounded by backup_timeout, not
// step_timeout, which bounds the migrations and every other step: a
// pg_dump of a large database outlasts a step_timeout set for restarts.
func TestBackupHasItsOwnTimeout(t *testing.T) {
	const hosts = "        hosts: [localhost]"
	tests := []struct {
		name     string
		timeouts string
		outcome  deploy.Outcome
		want     string // in the record's error
	}{
		// step_timeout bounds delivery too, which a loaded machine slows
		// to past a second: the backup outlasts it by seconds instead.
		{name: "backup longer than step_timeout", timeouts: "step_timeout: 4s\n        backup_timeout: 30s", outcome: deploy.OutcomeSucceeded},
		{name: "backup longer than backup_timeout", timeouts: "step_timeout: 30s\n        backup_timeout: 1s", outcome: deploy.OutcomeFailed,
			want: "the backup before migrations failed on localhost (step timed out (limit 1s)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), hosts, hosts+"\n        "+tc.timeouts+"\n        backup: 'sleep 6 && : > shared-backup'", 1)
			f := newFixtureFrom(t, yaml, &local.Transport{})
			f.build("1")
			rec := f.mustRun(deploy.KindDeploy, "1", tc.outcome)
			if !strings.Contains(rec.Error, tc.want) {
				t.Errorf("record error:\n got %q\nwant it to contain %q", rec.Error, tc.want)
			}
			if got, want := f.exists("shared-backup"), tc.outcome == deploy.OutcomeSucceeded; got != want {
				t.Errorf("backup written: got %v, want %v", got, want)
			}
		})
	}
}

// TestFailedMigrationsKeepTheHostsAddress: the migrations failed for
// their command (no address in that error), and listing them again
// afterwards failed for the connection, whose error gave the host's
// address. The failure names the host once, with that address once, as
// every other failure of a host does: it said "migrations failed on
// localhost (exit status 3: …)" and quoted the listing's cause alone, so
// the address whoever has to reach the host needs was nowhere.
func TestFailedMigrationsKeepTheHostsAddress(t *testing.T) {
	const run = `      run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`
	const check = "check the database, which a migration that failed half-way may have left partly changed, before deploying again"
	tests := []struct {
		name    string
		listErr error // what listing them again after the failure returns
		want    string
	}{
		{name: "listing lost with the address",
			listErr: fmt.Errorf("ssh: localhost (10.0.0.5:22): %w: connection lost", deploy.ErrUnreachable),
			want:    "migrations failed on localhost (10.0.0.5:22) (exit status 3: relation exists); nothing was switched; the pending migrations could not be listed again (host unreachable: connection lost): " + check},
		{name: "listing lost without the address",
			listErr: fmt.Errorf("ssh: localhost: session closed"),
			want:    "migrations failed on localhost (exit status 3: relation exists); nothing was switched; the pending migrations could not be listed again (session closed): " + check},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := fmt.Sprintf(fixtureYAML, "true")
			if !strings.Contains(yaml, run) {
				t.Fatalf("the fixture has no line %q; update this test", run)
			}
			yaml = strings.Replace(yaml, run, `      run: 'echo "relation exists" >&2; exit 3'`, 1)
			f := newFixtureFrom(t, yaml, &relistFails{err: tc.listErr})
			f.build("1")
			rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeFailed)
			if !strings.Contains(rec.Error, tc.want) {
				t.Errorf("record error:\n got %q\nwant it to contain %q", rec.Error, tc.want)
			}
			if n := strings.Count(rec.Error, "localhost"); n != 1 {
				t.Errorf("record error names localhost %d times, want once: %q", n, rec.Error)
			}
		})
	}
}

// relistFails is a local transport whose sessions fail, with err, every
// listing of the migrations that follows a run of them.
type relistFails struct {
	local.Transport
	err error
	ran atomic.Bool
}

func (t *relistFails) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := t.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return relistSession{Session: s, t: t}, nil
}

type relistSession struct {
	deploy.Session
	t *relistFails
}

func (s relistSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	switch {
	case strings.Contains(cmd.Script, "relation exists"):
		s.t.ran.Store(true)
	case strings.Contains(cmd.Script, "ls migrations 2>/dev/null") && s.t.ran.Load():
		return nil, s.t.err
	}
	return s.Session.Run(ctx, cmd)
}
