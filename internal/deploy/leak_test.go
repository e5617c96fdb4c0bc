package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/leakcheck"
)

// TestRepeatedRunsLeaveNothing deploys, fails and rolls back over and
// over with the local transport, and checks that once the engine is idle
// no goroutine or file of any run is left: a bot runs thousands.
// Not parallel: other tests' goroutines would count.
func TestRepeatedRunsLeaveNothing(t *testing.T) {
	f := newFixture(t, `test ! -e current/BROKEN`)
	for i := range 6 {
		f.build(fmt.Sprint(i))
	}
	f.build("bad", tarEntry{name: "BROKEN", body: "x"})
	f.mustRun(deploy.KindDeploy, "0", deploy.OutcomeSucceeded)
	snap := leakcheck.Take(t)
	for i := 1; i < 6; i++ {
		f.mustRun(deploy.KindDeploy, fmt.Sprint(i), deploy.OutcomeSucceeded)
		f.mustRun(deploy.KindDeploy, "bad", deploy.OutcomeReverted)
		f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	}
	f.engine.Wait()
	snap.Check(t)
}

// TestRepeatedFleetRunsLeaveNothing is TestRepeatedRunsLeaveNothing over
// SSH to real hosts, with connections kept warm between runs, one host
// failing its health check now and then, and one dying at the end: once
// the transport is closed, nothing of the runs is left.
func TestRepeatedFleetRunsLeaveNothing(t *testing.T) {
	fleet := startFleet(t, 2)
	f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, healthTime: "1s", keepalive: "300ms", connectTimeout: "2s"}, nil)
	for i := range 7 {
		f.build(fmt.Sprint(i + 1))
	}
	snap := leakcheck.Take(t)
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	for _, i := range []int{2, 4, 6} {
		f.mustRun(deploy.KindDeploy, fmt.Sprint(i), deploy.OutcomeSucceeded)
		bad := fmt.Sprint(i + 1)
		if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "sick-"+bad), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		f.mustRun(deploy.KindDeploy, bad, deploy.OutcomeReverted)
		f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	}
	// A host that dies while its connection is kept warm.
	fleet.Kill(1)
	f.engine.Wait()
	f.closeTransports()
	snap.Check(t)
}
