package deploy_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestFailedRollbackNamesTheHostsItLeftOut: a rollback that fails on one
// host while another, down, was left out within max_failures says both:
// the host it left as it was needs rolling back once it is up, as a
// rollback that failed nowhere says.
func TestFailedRollbackNamesTheHostsItLeftOut(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	// host1's restart fails on 1, where the rollback takes it.
	restart := `if [ "$SWITCHMAN_HOST" = host1 ] && [ "$SWITCHMAN_BUILD" = 1 ]; then echo "cannot start 1" >&2; exit 1; fi`
	f := newFleetFixture(t, fleet, fleetSpec{restart: restart, env: []string{"max_failures: 1"}}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	fleet.Stop(2)

	rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeFailed)
	t.Logf("rollback: %s", rec.Error)
	for _, want := range []string{"rollback to 1 failed on host1", "host2 could not be reached", "roll them back once they are up"} {
		if !strings.Contains(rec.Error, want) {
			t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
		}
	}
	checkHost(t, rec, "host0", deploy.HostActive, "1")
	if h2 := hostResult(t, rec, "host2"); h2.State != deploy.HostUnreachable {
		t.Errorf("host2: got state %s, want unreachable", h2.State)
	}
}
