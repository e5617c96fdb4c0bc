package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestFleetNoEarlierReleaseOffersNoRollback: where the live run's record
// says a rollback from it finds no good release to go back to, the
// refusals that offered `rollback web prod` to roll back what runs now,
// or to undo a deploy that is only removing old releases, offered a
// rollback that was refused in turn. They offer none and say why.
func TestFleetNoEarlierReleaseOffersNoRollback(t *testing.T) {
	t.Parallel()
	const why = "no earlier good release is on disk to roll back to"
	tests := []struct {
		name string
		// refusals runs the runs that leave web/prod with nowhere to roll
		// back to, and returns the refusals given on the way.
		refusals func(t *testing.T, f *fleetFixture) []string
	}{
		{
			// The rollback to 1 marked 2 bad, and nothing ran before 1:
			// a click on the deploy of 2's message comes after.
			name: "a click on an old message after a rollback to the first release",
			refusals: func(t *testing.T, f *fleetFixture) []string {
				f.seed("1")
				f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
				if rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded); !rec.NoRollback {
					t.Fatalf("rollback to 1: got NoRollback false (RollbackTo %q), want true", rec.RollbackTo)
				}
				_, err := f.rollback("", "2")
				if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "not 2; nothing was rolled back") {
					t.Errorf("rollback from 2: got %v, want it refused as 2 no longer runs", err)
				}
				return []string{errs.Message(err)}
			},
		},
		{
			// The first deploy failed and left every host on 1, bad; the
			// deploy of 2 replaces it and prunes a leftover unpack.
			name: "a deploy over a failed first release, pruning",
			refusals: func(t *testing.T, f *fleetFixture) []string {
				for _, h := range f.fleet.Hosts {
					if err := os.WriteFile(filepath.Join(h.Root, "sick-1"), nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeReverted)
				if err := os.MkdirAll(filepath.Join(f.root(0), "releases", ".tmp-left"), 0o755); err != nil {
					t.Fatal(err)
				}
				g := f.holdPrune(t)
				_, done, err := f.start(deploy.KindDeploy, "2")
				if err != nil {
					t.Fatal(err)
				}
				<-g.pruning
				f.awaitPruning(t)
				var msgs []string
				_, err = f.engine.Cancel("web", "prod", "bob")
				if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "not cancelled") {
					t.Errorf("cancel while pruning: got %v, want it refused", err)
				}
				msgs = append(msgs, errs.Message(err))
				_, err = f.engine.Rollback(context.Background(), deploy.Request{App: "web", Env: "prod", Requester: "bob"}, nil)
				if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "nothing was rolled back") {
					t.Errorf("rollback while pruning: got %v, want it refused", err)
				}
				msgs = append(msgs, errs.Message(err))
				close(g.release)
				if rec := f.wait(done); rec.Outcome != deploy.OutcomeSucceeded || !rec.NoRollback {
					t.Fatalf("deploy of 2: got %s (NoRollback %v, %s), want succeeded with no rollback", rec.Outcome, rec.NoRollback, rec.Error)
				}
				return msgs
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd}, nil)
			for _, b := range []string{"1", "2"} {
				f.build(b)
			}
			for _, msg := range tt.refusals(t, f) {
				var rollbacks []commands.Command
				for _, c := range offered(t, f.cfg, msg) {
					if c.Verb == commands.VerbRollback {
						rollbacks = append(rollbacks, c)
					}
				}
				if len(rollbacks) != 0 || !strings.Contains(msg, why) {
					t.Errorf("refusal %q: offers %+v; want no rollback, and to say %q", msg, rollbacks, why)
				}
			}
			// As the refusals say: a rollback naming none has nowhere to go.
			if _, err := f.rollback("", ""); errs.CodeOf(err) != errs.NotFound {
				t.Errorf("rollback after the refusals that offered none: got %v, want it refused as finding no release", err)
			}
		})
	}
}
