package deploy_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestFullDisksSayWhoseMarkFailed: a deploy of a release already on disk
// whose switch fails for want of an inode, on two hosts, cannot write the
// release's bad marker on either. The report names the two, and the
// error it quotes is said of the host it came from, as it is of a host
// alone: it read "could NOT mark release 1 bad on host0, host1 (exit
// status 2: …)", whose error that was left to guess.
func TestFullDisksSayWhoseMarkFailed(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 2)
	f := newFleetFixture(t, fleet, fleetSpec{env: []string{noSpaceCheck}}, nil)
	for i := range fleet.Hosts {
		smallDisk(t, f, i, "400k", 200)
	}
	f.build("1")
	f.build("3")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	for i := range fleet.Hosts {
		fillInodes(t, f, i)
	}

	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeReverted)
	t.Logf("deploy: %s", rec.Error)
	const want = "could NOT mark release 1 bad on host0, host1 (host0: exit status "
	i := strings.Index(rec.Error, want)
	if i < 0 {
		t.Fatalf("record error: got %q, want it to say %q", rec.Error, want)
	}
	clause, _, _ := strings.Cut(rec.Error[i:], ": a rollback there may still pick it")
	if !strings.Contains(clause, "No space left on device") || strings.Count(clause, "host0") != 2 || strings.Count(clause, "host1") != 1 {
		t.Errorf("record error: got %q, want host0's failure (No space left on device) said of it once", clause)
	}
}
