package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// readCounter counts the records its store's Records returns.
type readCounter struct {
	deploy.Store
	read atomic.Int64
}

func (s *readCounter) Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error) {
	recs, err := s.Store.Records(ctx, f)
	s.read.Add(int64(len(recs)))
	return recs, err
}

// oldRecords is how many deploys of other builds, long done, the test
// keeps in the history: an app+env deployed for years has thousands,
// but a few times the newest a rollback reads tells one read from the
// other, without each run of the test writing thousands.
const oldRecords = 400

// putOldRecords stores oldRecords failed deploys of web/prod, all older
// than any run of the test's.
func putOldRecords(tb testing.TB, st deploy.Store) {
	tb.Helper()
	start := time.Now().AddDate(-3, 0, 0)
	for i := range oldRecords {
		started := start.Add(time.Duration(i) * time.Hour)
		rec := &deploy.Record{
			ID: fmt.Sprintf("%s-%06x", started.UTC().Format("20060102-150405"), i), Kind: deploy.KindDeploy,
			App: "web", Env: "prod", Build: fmt.Sprintf("old%d", i), Requester: "ana",
			Started: started, Finished: started.Add(time.Minute), Outcome: deploy.OutcomeFailed,
		}
		if err := st.PutRecord(context.Background(), rec); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestRollbackReadsTheNewestRecords: a rollback tells whether the release
// it goes to ran here from the newest records of the app+env when they
// show it running, before it starts: an app+env deployed for years has
// thousands, and reading them all delayed its first switch. Named (is it
// a release that ran?) or not (which release on disk ran?), it reads none
// of the old deploys of other builds to decide. (The migrations it leaves
// applied are read beside its switches: see keptRead.)
func TestRollbackReadsTheNewestRecords(t *testing.T) {
	for _, tt := range []struct {
		name   string
		builds []string
		// prepare runs before the rollback: an unnamed rollback reads the
		// history only when the hosts' `previous` will not do.
		prepare func(t *testing.T, f *fixture)
		to      string // the rollback's named release, "" for none
	}{
		{name: "named", builds: []string{"1", "2"}, prepare: func(*testing.T, *fixture) {}, to: "1"},
		{
			name: "unnamed, previous marked bad", builds: []string{"1", "2", "3"},
			prepare: func(t *testing.T, f *fixture) {
				if err := os.WriteFile(filepath.Join(f.app, "releases", ".bad-2"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var st *readCounter
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				st = &readCounter{Store: o.Store}
				o.Store = st
			})
			putOldRecords(t, st)
			for _, b := range tt.builds {
				f.build(b)
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			tt.prepare(t, f)
			st.read.Store(0)
			started := int64(-1) // records read once the rollback's record is written
			f.watch = func(ev deploy.Event) {
				if ev.Kind == deploy.EventStarted {
					started = st.read.Load()
				}
			}
			rec, err := f.run(deploy.KindRollback, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Outcome != deploy.OutcomeSucceeded || f.link("current") != "releases/1" {
				t.Fatalf("rollback: got %s (%s), current -> %q; want succeeded, on releases/1", rec.Outcome, rec.Error, f.link("current"))
			}
			t.Logf("records read before the rollback started: %d", started)
			if started < 0 || started >= oldRecords {
				t.Errorf("the rollback read %d records before it started, want fewer than the %d old ones: the newest show release 1 running", started, oldRecords)
			}
		})
	}
}
