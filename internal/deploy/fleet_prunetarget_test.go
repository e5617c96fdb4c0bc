package deploy_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestFleetPruneKeepsTheRollbackTarget: with keep_releases at 2, a
// deploy's prune keeps `current` and `previous` on each host, and the
// release a rollback from the deploy goes to as well, when that is an
// older one. host1 was down during the deploy of 3, so after the deploy
// of 4 host0's `previous` is 3, which host1 never had: the rollback goes
// to 2, the newest release every host has. Pruned from host0 as the
// third newest, 2 left the deploy offering 3, which the rollback refused
// as not on host1.
func TestFleetPruneKeepsTheRollbackTarget(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 2)
	f := newFleetFixture(t, fleet, fleetSpec{keep: 2, env: []string{"max_failures: 1"}}, nil)
	for _, b := range []string{"1", "2", "3", "4"} {
		f.build(b)
	}
	f.seed("1")
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	fleet.Stop(1)
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	fleet.Start(1)
	rec := f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded)
	if rec.RollbackTo != "2" {
		t.Errorf("deploy of 4: got RollbackTo %q (NoRollback %v), want 2", rec.RollbackTo, rec.NoRollback)
	}
	for i, h := range fleet.Hosts {
		if _, err := os.Stat(filepath.Join(f.root(i), "releases", "2")); err != nil {
			t.Errorf("%s: release 2 after the prune: %v", h.Name, err)
		}
	}
	back := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	if back.Build != rec.RollbackTo {
		t.Errorf("rollback went to %s; the deploy offered %q", back.Build, rec.RollbackTo)
	}
}

// TestFleetPruneCountsGoodReleases: releases marked bad take no place
// among the keep_releases a prune leaves, which are for rollbacks to go
// to. After 1, 2 and 3, a rollback to 2 marks 3 bad; the deploy of 4
// then keeps 1, the third good release, and a rollback from 4 and one
// more go to 2 and then 1. Counted with 3, 1 was pruned by the deploy of
// 4, and the second rollback found nothing to go back to.
func TestFleetPruneCountsGoodReleases(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 2)
	f := newFleetFixture(t, fleet, fleetSpec{keep: 3}, nil)
	for _, b := range []string{"1", "2", "3", "4"} {
		f.build(b)
	}
	f.seed("1")
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	if back := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded); back.Build != "2" || back.RollbackTo != "1" {
		t.Fatalf("rollback from 3: got to %s, offering %q; want to 2, offering 1", back.Build, back.RollbackTo)
	}
	if rec := f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded); rec.RollbackTo != "2" {
		t.Errorf("deploy of 4: got RollbackTo %q, want 2", rec.RollbackTo)
	}
	for i, h := range fleet.Hosts {
		if _, err := os.Stat(filepath.Join(f.root(i), "releases", "1")); err != nil {
			t.Errorf("%s: release 1 after the deploy of 4: %v", h.Name, err)
		}
	}
	back := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	if back.Build != "2" || back.RollbackTo != "1" {
		t.Errorf("rollback from 4: got to %s, offering %q (NoRollback %v); want to 2, offering 1", back.Build, back.RollbackTo, back.NoRollback)
	}
	if again := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded); again.Build != "1" {
		t.Errorf("rollback from 2: got to %s, want 1", again.Build)
	}
}
