package deploy_test

import (
	"slices"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRetained: of one app/env's records, newest first, a trim keeps the
// live run and the record that shows the release a rollback from it goes
// to running, past any number of runs that changed no host.
func TestRetained(t *testing.T) {
	type r = deploy.Record
	dep := func(id string, o deploy.Outcome, build, previous, to string) *r {
		return &r{ID: id, Kind: deploy.KindDeploy, Outcome: o, Build: build, Previous: previous, RollbackTo: to}
	}
	back := func(id string, build, left string) *r {
		return &r{ID: id, Kind: deploy.KindRollback, Outcome: deploy.OutcomeSucceeded, Build: build, Previous: left}
	}
	withTo := func(rec *r, to string) *r {
		rec.RollbackTo = to
		return rec
	}
	noRollback := dep("d1", deploy.OutcomeSucceeded, "1", "", "")
	noRollback.NoRollback = true
	noFurther := back("b1", "1", "2")
	noFurther.NoRollback = true
	tests := []struct {
		name string
		recs []*r // newest first
		want []string
	}{
		{"none", nil, nil},
		{"only runs that changed nothing", []*r{dep("f2", deploy.OutcomeCancelled, "3", "2", ""), dep("f1", deploy.OutcomeFailed, "3", "2", "")}, nil},
		{"deploy whose previous is where a rollback goes", []*r{
			dep("f1", deploy.OutcomeFailed, "3", "2", ""),
			dep("d2", deploy.OutcomeSucceeded, "2", "1", "1"),
			dep("d1", deploy.OutcomeSucceeded, "1", "", ""),
		}, []string{"d2"}},
		{"deploy whose rollback goes past a bad previous", []*r{
			dep("f1", deploy.OutcomeReverted, "4", "3", ""),
			dep("d3", deploy.OutcomeSucceeded, "3", "2", "1"),
			dep("d2", deploy.OutcomeFailed, "2", "1", ""),
			dep("d1", deploy.OutcomeSucceeded, "1", "", ""),
		}, []string{"d3", "d2"}},
		{"running run passed over", []*r{
			dep("d3", deploy.OutcomeRunning, "3", "2", ""),
			dep("d2", deploy.OutcomePartial, "2", "1", ""),
			dep("d1", deploy.OutcomeSucceeded, "1", "", ""),
		}, []string{"d2"}},
		{"interrupted run passed over", []*r{
			dep("d3", deploy.OutcomeInterrupted, "3", "2", ""),
			dep("d2", deploy.OutcomeSucceeded, "2", "1", "1"),
			dep("d1", deploy.OutcomeSucceeded, "1", "", ""),
		}, []string{"d2"}},
		{"rollback", []*r{
			dep("f1", deploy.OutcomeFailed, "4", "2", ""),
			back("b1", "2", "3"),
			dep("d3", deploy.OutcomeSucceeded, "3", "2", "2"),
			dep("d2", deploy.OutcomeSucceeded, "2", "1", "1"),
			dep("d1", deploy.OutcomeSucceeded, "1", "", ""),
		}, []string{"b1", "d2"}},
		// b2 left 2, which b1 had gone back to from 3: a rollback from
		// 1 goes to 0 (2 and 3 are bad), which d1 shows running. d3
		// shows 3 running, which b2's neighbours never left, but 3 is
		// no place a rollback goes.
		{"rollback of a rollback", []*r{
			withTo(back("b2", "1", "2"), "0"),
			withTo(back("b1", "2", "3"), "1"),
			dep("d3", deploy.OutcomeSucceeded, "3", "2", "2"),
			dep("d2", deploy.OutcomeSucceeded, "2", "1", "1"),
			dep("d1", deploy.OutcomeSucceeded, "1", "0", "0"),
			dep("d0", deploy.OutcomeSucceeded, "0", "", ""),
		}, []string{"b2", "d1"}},
		{"rollback with nothing further back", []*r{
			noFurther,
			dep("d2", deploy.OutcomeSucceeded, "2", "1", "1"),
			dep("d1", deploy.OutcomeSucceeded, "1", "", ""),
		}, []string{"b1"}},
		{"nothing to roll back to", []*r{dep("f1", deploy.OutcomeFailed, "2", "1", ""), noRollback, dep("d0", deploy.OutcomeSucceeded, "0", "", "")}, []string{"d1"}},
		{"first release", []*r{dep("d2", deploy.OutcomeSucceeded, "2", "", ""), dep("d1", deploy.OutcomeSucceeded, "1", "", "")}, []string{"d2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var k deploy.Retained
			var got []string
			for _, rec := range tc.recs {
				if k.Keep(rec) {
					got = append(got, rec.ID)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
			if !k.Done() && len(tc.want) > 0 {
				t.Error("Done after the records that tell: got false, want true")
			}
		})
	}
}

// TestRetainedAfterAPartialRunWithNoTarget: after a partial run that
// names no release to go back to, the alert asks for one the hosts all
// have by name, which a rollback refuses unless a record shows it ran:
// a trim keeps a record showing each release that ran, however old, and
// reads to the oldest record.
func TestRetainedAfterAPartialRunWithNoTarget(t *testing.T) {
	type r = deploy.Record
	partial := &r{ID: "p3", Kind: deploy.KindDeploy, Outcome: deploy.OutcomePartial, Build: "3", Previous: "2", NoRollback: true}
	tests := []struct {
		name string
		recs []*r // newest first
		want []string
	}{
		{"older releases behind a failed redeploy", []*r{
			partial,
			{ID: "f1", Kind: deploy.KindDeploy, Outcome: deploy.OutcomeFailed, Build: "1", Previous: "2"},
			{ID: "d2", Kind: deploy.KindDeploy, Outcome: deploy.OutcomeSucceeded, Build: "2", Previous: "1", RollbackTo: "1"},
			{ID: "d1", Kind: deploy.KindDeploy, Outcome: deploy.OutcomeSucceeded, Build: "1", Previous: "0"},
			{ID: "d0", Kind: deploy.KindDeploy, Outcome: deploy.OutcomeSucceeded, Build: "0"},
		}, []string{"p3", "d2", "d1"}},
		{"only the partial run", []*r{partial}, []string{"p3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var k deploy.Retained
			var got []string
			for _, rec := range tc.recs {
				if k.Done() {
					t.Fatalf("Done before %s: got true, want false (any older release may be the one named)", rec.ID)
				}
				if k.Keep(rec) {
					got = append(got, rec.ID)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}
