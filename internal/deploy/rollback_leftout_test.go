package deploy_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestRollbackLeftOutSaysHowToFinish: a rollback from 2 to 1 that left
// host2 out, down, says how to roll it back once it is up, and that
// command, once host2 is back, takes it to 1 and marks 2 bad there, the
// others left as they are. It said "roll them back once they are up"
// alone, and the rollback people typed then was refused: the hosts run
// different releases, and which to name was theirs to work out.
func TestRollbackLeftOutSaysHowToFinish(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	f := newFleetFixture(t, fleet, fleetSpec{env: []string{"max_failures: 1"}}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	fleet.Stop(2)

	rb := f.mustRun(deploy.KindRollback, "", deploy.OutcomePartial)
	want := "host2 could not be reached; those were left as they were: roll them back once they are up: " + suggest.Command("rollback web prod to 1")
	if !strings.Contains(rb.Error, want) {
		t.Fatalf("partial rollback: got %q, want it to say %q", rb.Error, want)
	}

	fleet.Start(2)
	again, err := f.rollback("1", "")
	if err != nil {
		t.Fatalf("rollback web prod to 1 once host2 is up: %v", err)
	}
	if again.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("rollback web prod to 1: got %s (%s), want succeeded", again.Outcome, again.Error)
	}
	checkHost(t, again, "host0", deploy.HostUnchanged, "1")
	checkHost(t, again, "host2", deploy.HostActive, "1")
	f.checkLinks(2, "1", "2")
	if !f.exists(2, "releases/.bad-2") {
		t.Error("host2: 2 is not marked bad after the rollback took it to 1")
	}
}
