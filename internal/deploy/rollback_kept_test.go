package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRollbackReadsTheMigrationsKeptBackToItsRelease: the migrations a
// rollback leaves applied are the ones run since its release last ran,
// and it reads the history back to there, not the deploys before, which
// in an app+env deployed for years are thousands. Its answer is the one
// the whole history gives, however far back the release ran.
func TestRollbackReadsTheMigrationsKeptBackToItsRelease(t *testing.T) {
	for _, tt := range []struct {
		name string
		// old puts records in the history before deploy 1 runs.
		old func(t *testing.T, st deploy.Store)
		// between puts records between deploy 1 and deploy 2, and
		// returns the parts of the answer they give, oldest first.
		between func(t *testing.T, st deploy.Store) []string
		// readsUnder, when set, bounds the records the rollback reads.
		readsUnder int
	}{
		{
			name:       "old deploys before the release",
			old:        func(t *testing.T, st deploy.Store) { putOldRecords(t, st) },
			between:    func(*testing.T, deploy.Store) []string { return nil },
			readsUnder: oldRecords,
		},
		{
			// More deploys since 1 ran than a rollback reads first: the
			// answer takes reads past them.
			name: "the release ran further back than the newest read",
			old:  func(*testing.T, deploy.Store) {},
			between: func(t *testing.T, st deploy.Store) []string {
				var parts []string
				for i := range 150 {
					started := time.Now()
					rec := &deploy.Record{
						ID: fmt.Sprintf("%s-m%05d", started.UTC().Format("20060102-150405"), i), Kind: deploy.KindDeploy,
						App: "web", Env: "prod", Build: fmt.Sprintf("mig%d", i), Requester: "ana",
						Started: started, Finished: started, Outcome: deploy.OutcomeFailed,
						Migrations: []string{fmt.Sprintf("%03d_step.sql", i)}, MigrationState: deploy.MigrationsFailed,
						// Past any token deploy 1 was handed: the store
						// refuses a record older than its app+env's lease.
						Fence: 1 << 40,
					}
					if err := st.PutRecord(context.Background(), rec); err != nil {
						t.Fatal(err)
					}
					parts = append(parts, fmt.Sprintf("some, all or none of %03d_step.sql (deploy %s of mig%d, whose migrations failed)", i, rec.ID, i))
				}
				return parts
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var st *readCounter
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				st = &readCounter{Store: o.Store}
				o.Store = st
			})
			tt.old(t, st)
			f.build("1")
			f.build("2", tarEntry{name: "migrations/002_email.sql", body: "x"})
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			parts := tt.between(t, st)
			d2 := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			parts = append(parts, fmt.Sprintf("002_email.sql (deploy %s of 2)", d2.ID))

			st.read.Store(0)
			rb := f.mustRun(deploy.KindRollback, "1", deploy.OutcomeSucceeded)
			read := st.read.Load()
			t.Logf("records read by the rollback: %d", read)
			want := fmt.Sprintf("the migrations run since 1 stay applied: %s; a rollback does not undo them, and 1 now runs on the migrated database", strings.Join(parts, "; "))
			if rb.SchemaKept != want {
				t.Errorf("rollback to 1: got %q, want %q", rb.SchemaKept, want)
			}
			if tt.readsUnder > 0 && read >= int64(tt.readsUnder) {
				t.Errorf("the rollback read %d records, want fewer than the %d old ones before release 1 ran", read, tt.readsUnder)
			}
		})
	}
}
