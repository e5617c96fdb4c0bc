package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRollbackLocksBeforeItsFirstSwitch: a rollback locks its app+env
// before it switches a host, so that one stopped half-way (its process
// killed, its lease lost) leaves the release it was leaving locked out of
// deploys; it once locked only after every host had switched. A rollback
// that fails on every host keeps the lock too: it was asked to stop
// deploys of a bad build, and the hosts are left on the target without a
// passing restart, for a person to look at.
func TestRollbackLocksBeforeItsFirstSwitch(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail bool
		want deploy.Outcome
	}{
		{"succeeds", false, deploy.OutcomeSucceeded},
		{"fails on every host", true, deploy.OutcomeFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Build 1's restart fails once armed, after it has run.
			arm := filepath.Join(t.TempDir(), "arm")
			f := newFixture(t, fmt.Sprintf(`if [ "$SWITCHMAN_BUILD" = 1 ] && [ -e %s ]; then exit 1; fi`, arm))
			f.build("1")
			f.build("2")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			if tc.fail {
				if err := os.WriteFile(arm, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var (
				mu       sync.Mutex
				atSwitch []deploy.Lock
				seen     bool
				lockErr  error
			)
			done := make(chan *deploy.Record, 1)
			_, err := f.engine.Rollback(context.Background(), deploy.Request{App: "web", Env: "prod", Requester: "ana"}, func(ev deploy.Event) {
				if ev.Kind == deploy.EventStep && ev.Step == deploy.StepActivate && !ev.Done {
					mu.Lock()
					if !seen {
						seen = true
						atSwitch, lockErr = f.store.Locks(context.Background())
					}
					mu.Unlock()
				}
				if ev.Kind == deploy.EventFinished {
					done <- ev.Record
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			rec := <-done
			if rec.Outcome != tc.want {
				t.Errorf("rollback outcome: got %s (%s), want %s", rec.Outcome, rec.Error, tc.want)
			}
			const reason = "rolled back from 2 by ana: fix before deploying again"
			mu.Lock()
			defer mu.Unlock()
			if lockErr != nil || len(atSwitch) != 1 || atSwitch[0].Owner != deploy.LockOwnerBot || atSwitch[0].Reason != reason {
				t.Errorf("locks as the first host switched: got %+v, %v; want the bot's, reading %q", atSwitch, lockErr, reason)
			}
			after, err := f.store.Locks(t.Context())
			if err != nil || len(after) != 1 || len(atSwitch) != 1 || !after[0].Equal(atSwitch[0]) {
				t.Errorf("locks after the rollback: got %+v, %v; want the one it took before its switch", after, err)
			}
			if !rec.Locked || strings.Contains(rec.Error, "the lock stays") {
				t.Errorf("record: locked %v, error %q; want it locked, its error not calling it interrupted", rec.Locked, rec.Error)
			}
		})
	}
}

// TestRollbackRefusedLocksNothing: a rollback refused before it starts
// (nothing to do, a target that never ran) changed nothing, and locks
// nothing either.
func TestRollbackRefusedLocksNothing(t *testing.T) {
	for _, tc := range []struct {
		name, to string
		setup    func(f *fixture)
	}{
		{"nothing to do", "1", func(f *fixture) {
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
		}},
		{"no earlier release", "", func(f *fixture) {
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "true")
			f.build("1")
			tc.setup(f)
			if _, err := f.run(deploy.KindRollback, tc.to); err == nil {
				t.Fatal("rollback started, want it refused")
			}
			if locks, err := f.store.Locks(t.Context()); err != nil || len(locks) != 0 {
				t.Errorf("locks after a refused rollback: got %+v, %v; want none", locks, err)
			}
		})
	}
}
