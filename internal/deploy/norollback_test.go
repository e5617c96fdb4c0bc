package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestNoRollbackAgreesWithTheRollback: a deploy's record says that no
// rollback is to be had exactly when the rollback that follows finds no
// good release to go back to, and otherwise names the release it goes
// to. A failed first deploy leaves its hosts on its release, marked bad:
// the next deploy replaces it, and a rollback from that one has nowhere
// to go, while one with an older good release on disk goes there.
func TestNoRollbackAgreesWithTheRollback(t *testing.T) {
	tests := []struct {
		name   string
		before func(f *fixture) // the runs before the deploy of 2
		want   string           // the rollback's target, "" for none
	}{
		{"from a good release", func(f *fixture) {
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
		}, "1"},
		{"from a failed first release", func(f *fixture) {
			f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeReverted)
		}, ""},
		{"from a bad release, with a good one before it", func(f *fixture) {
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded)
			if err := os.WriteFile(filepath.Join(f.app, "releases", ".bad-4"), nil, 0o644); err != nil {
				f.t.Fatal(err)
			}
		}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFailingFixture(t)
			for _, b := range []string{"1", "2", "4"} {
				f.build(b)
			}
			f.build("3", tarEntry{name: "BROKEN", body: "x"})
			tt.before(f)
			rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			checkRollbackOffer(t, f, rec, tt.want)
		})
	}
}

// TestNoRollbackAfterARollback: a succeeded rollback's record says, as a
// deploy's does, where a rollback from it goes or that there is nowhere:
// the release it left is marked bad, so the one before its target, if
// any that ran, is the next. Its record is the live run's (an alert's
// Rollback button is drawn from it), and a record that looked as if it
// could roll back offered a button that was only refused.
func TestNoRollbackAfterARollback(t *testing.T) {
	tests := []struct {
		name   string
		builds []string // deployed in order, then rolled back from the last
		want   string   // a further rollback's target, "" for none
	}{
		{"back to the first release", []string{"1", "2"}, ""},
		{"back to a release with a good one before it", []string{"1", "2", "4"}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			for _, b := range tt.builds {
				f.build(b)
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
			checkRollbackOffer(t, f, rec, tt.want)
		})
	}
}

// checkRollbackOffer checks that rec, the live run's record, names to as
// the target of a rollback from it ("" for none), stored so, and that the
// rollback that follows does exactly that.
func checkRollbackOffer(t *testing.T, f *fixture, rec *deploy.Record, to string) {
	t.Helper()
	if got, want := rec.NoRollback, to == ""; got != want {
		t.Errorf("NoRollback: got %v, want %v", got, want)
	}
	if got, want := rec.CanRollBack(), to != ""; got != want {
		t.Errorf("CanRollBack: got %v, want %v", got, want)
	}
	if rec.RollbackTo != to {
		t.Errorf("RollbackTo: got %q, want %q", rec.RollbackTo, to)
	}
	stored, err := f.store.Record(context.Background(), rec.ID)
	if err != nil || stored.RollbackTo != to || stored.NoRollback != (to == "") {
		t.Errorf("stored record: got %+v, %v; want RollbackTo %q", stored, err, to)
	}
	rb, err := f.run(deploy.KindRollback, "")
	switch {
	case to == "" && errs.CodeOf(err) != errs.NotFound:
		t.Errorf("rollback: got %+v, %v; want it refused, nothing to go back to", rb, err)
	case to != "" && (err != nil || rb.Outcome != deploy.OutcomeSucceeded || rb.Build != to):
		t.Errorf("rollback: got %+v, %v; want it to go back to %s", rb, err, to)
	}
}
