package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestMigrationStateIsRecorded: a deploy's record says how far its
// migrations got, and says it while they run, so that a deploy
// interrupted there (whose record recovery keeps, outcome aside) tells
// whoever decides next whether the schema may have changed. A record said
// which migrations were pending, not whether they had run.
func TestMigrationStateIsRecorded(t *testing.T) {
	const runCmd = `run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`
	tests := []struct {
		name    string
		run     string   // the migrate command's shell, "" for the fixture's
		env     []string // extra lines of the env
		build2  bool     // build 2 brings a migration of its own
		kind    deploy.Kind
		outcome deploy.Outcome
		want    deploy.MigrationState
	}{
		{name: "none pending", kind: deploy.KindDeploy, outcome: deploy.OutcomeSucceeded, want: deploy.MigrationsNone},
		{name: "ran", build2: true, kind: deploy.KindDeploy, outcome: deploy.OutcomeSucceeded, want: deploy.MigrationsDone},
		{name: "failed", build2: true, run: "exit 3", kind: deploy.KindDeploy, outcome: deploy.OutcomeFailed, want: deploy.MigrationsFailed},
		{name: "refused by migrate: never", build2: true, env: []string{"migrate: never"}, kind: deploy.KindDeploy, outcome: deploy.OutcomeFailed, want: deploy.MigrationsNotStarted},
		{name: "a rollback runs none", kind: deploy.KindRollback, outcome: deploy.OutcomeSucceeded, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			hold, started := filepath.Join(dir, "hold"), filepath.Join(dir, "started")
			run := tt.run
			if run == "" {
				run = `for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done`
			}
			// While dir/hold exists the migrate command waits, once it has
			// begun, as a long migration does.
			run = fmt.Sprintf(`if [ -e %s ]; then touch %s; while [ -e %s ]; do sleep 0.05; done; fi; %s`, hold, started, hold, run)
			yaml := strings.Replace(fixtureYAML, runCmd, "run: "+yq(run), 1)
			yaml = strings.Replace(yaml, "        hosts: [localhost]\n", "        hosts: [localhost]\n"+indent(tt.env, "        "), 1)
			f := newFixtureFrom(t, fmt.Sprintf(yaml, "true"), &local.Transport{})
			// Build 1's migration has run: deploying it needs none.
			if err := os.MkdirAll(f.app, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(f.app, "applied"), []byte("001_users.sql\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			f.build("1")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			var extra []tarEntry
			if tt.build2 {
				extra = append(extra, tarEntry{name: "migrations/002_email.sql", body: "alter table users;"})
			}
			f.build("2", extra...)
			if tt.kind == deploy.KindRollback {
				f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			}
			if tt.want == deploy.MigrationsDone {
				// Held while it migrates: the record in the store, what a
				// crash would leave, says so.
				if err := os.WriteFile(hold, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				rec, done := f.startDeploy("2")
				waitFile(t, started)
				got, err := f.store.Record(context.Background(), rec.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.MigrationState != deploy.MigrationsRunning {
					t.Errorf("while migrating: got state %q, want %q", got.MigrationState, deploy.MigrationsRunning)
				}
				os.Remove(hold)
				if rec = <-done; rec.Outcome != tt.outcome {
					t.Fatalf("got outcome %s (%s), want %s", rec.Outcome, rec.Error, tt.outcome)
				}
			} else if tt.kind == deploy.KindRollback {
				f.mustRun(deploy.KindRollback, "", tt.outcome)
			} else {
				f.mustRun(deploy.KindDeploy, "2", tt.outcome)
			}
			recs, err := f.store.Records(context.Background(), deploy.Filter{App: "web", Env: "prod", Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got := recs[0].MigrationState; got != tt.want {
				t.Errorf("%s %s: got state %q, want %q (migrations %v)", recs[0].Kind, recs[0].Outcome, got, tt.want, recs[0].Migrations)
			}
		})
	}
}

// startDeploy starts a deploy of build and returns its first record and
// where its final one arrives.
func (f *fixture) startDeploy(build string) (*deploy.Record, <-chan *deploy.Record) {
	f.t.Helper()
	done := make(chan *deploy.Record, 1)
	rec, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: build, Requester: "ana"}, func(ev deploy.Event) {
		f.sink(ev)
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return rec, done
}

// waitFile polls until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
	}
}

func indent(lines []string, prefix string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// failsRunningMigrations is a store that fails every write of a record
// saying that its migrations run, and takes every other.
type failsRunningMigrations struct{ deploy.Store }

func (s failsRunningMigrations) PutRecord(ctx context.Context, r *deploy.Record) error {
	if r.MigrationState == deploy.MigrationsRunning {
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return s.Store.PutRecord(ctx, r)
}

// TestMigrationsWaitForTheirRecord: the migrate command starts only once
// the store holds the record saying it runs. Run with the store keeping
// "not started", a bot that died while they ran left status telling
// whoever decides on a rollback that the schema had not changed.
func TestMigrationsWaitForTheirRecord(t *testing.T) {
	tests := []struct {
		name    string
		fails   bool
		outcome deploy.Outcome
		state   deploy.MigrationState
		applied bool
	}{
		{name: "store takes the write", outcome: deploy.OutcomeSucceeded, state: deploy.MigrationsDone, applied: true},
		{name: "store fails the write", fails: true, outcome: deploy.OutcomeFailed, state: deploy.MigrationsNotStarted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				if tt.fails {
					o.Store = failsRunningMigrations{o.Store}
				}
			})
			f.build("1")
			rec := f.mustRun(deploy.KindDeploy, "1", tt.outcome)
			if got := f.exists("applied"); got != tt.applied {
				t.Errorf("migrations applied: got %v, want %v", got, tt.applied)
			}
			stored, err := f.store.Record(t.Context(), rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.MigrationState != tt.state {
				t.Errorf("stored migration state: got %q, want %q", stored.MigrationState, tt.state)
			}
			if !tt.fails {
				return
			}
			const want = "the deploy's record could not be updated to say that its migrations run (dial tcp 127.0.0.1:6379: connect: connection refused); nothing was migrated or switched"
			if !strings.Contains(rec.Error, want) {
				t.Errorf("error: got %q, want it to contain %q", rec.Error, want)
			}
			if got := f.link("current"); got != "" {
				t.Errorf("current -> %q, want no switch", got)
			}
		})
	}
}
