package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestFailingRollbackStopsBeyondMaxFailures: a rollback whose target
// fails on more hosts than max_failures allows starts no further batch.
// It went on to every host, batch after batch, leaving each on a target
// that failed its restart: a rollback to a release that no longer starts
// (it does not know the migrated database, say) took the whole fleet
// off the release that served and onto one that did not.
func TestFailingRollbackStopsBeyondMaxFailures(t *testing.T) {
	tests := []struct {
		maxFailures string
		failed      []string // failed on 1, where the rollback took them
		untouched   []string // left on 2
		want        string
	}{
		{"0", []string{"host0"}, []string{"host1", "host2"}, "rollback to 1 failed on host0; stopped there, as more hosts failed than max_failures allows (0): host1, host2 left as they were, not rolled back"},
		{"1", []string{"host0", "host1"}, []string{"host2"}, "rollback to 1 failed on host0, host1; stopped there, as more hosts failed than max_failures allows (1): host2 left as they were, not rolled back"},
	}
	for _, tt := range tests {
		t.Run("max_failures "+tt.maxFailures, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			// 1 no longer starts, on any host.
			restart := `if [ "$SWITCHMAN_BUILD" = 1 ]; then echo "cannot start 1" >&2; exit 1; fi`
			f := newFleetFixture(t, fleet, fleetSpec{restart: restart, env: []string{`max_failures: "` + tt.maxFailures + `"`}}, nil)
			f.build("1")
			f.build("2")
			f.seed("1")
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)

			rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeFailed)
			if !strings.Contains(rec.Error, tt.want) {
				t.Errorf("record error: got %q, want it to say %q", rec.Error, tt.want)
			}
			for _, h := range tt.failed {
				checkHost(t, rec, h, deploy.HostFailed, "1")
			}
			for _, h := range tt.untouched {
				checkHost(t, rec, h, deploy.HostUnchanged, "2")
				if got := f.stepsOf(rec.ID, h); slices.Contains(got, deploy.StepActivate) || slices.Contains(got, deploy.StepRestart) {
					t.Errorf("%s ran %v, want it never switched or restarted", h, got)
				}
			}
			for i, h := range fleet.Hosts {
				want := "releases/2"
				if slices.Contains(tt.failed, h.Name) {
					want = "releases/1"
				}
				if got := f.link(i, "current"); got != want {
					t.Errorf("%s: current -> %q, want %s", h.Name, got, want)
				}
			}
		})
	}
}

// TestRollbackHealthGate: a rollback checks again the hosts it switched
// before its next batch, as a deploy does, and a host that stopped
// passing its health check on the target since its switch is a failed
// host: within max_failures the rollback goes on, beyond it stops there.
// It went on to the next batch without looking, reporting every host
// rolled back while one no longer passed.
func TestRollbackHealthGate(t *testing.T) {
	tests := []struct {
		maxFailures string
		rolled      []string // on 1 and healthy
		untouched   []string // left on 2
		stopped     bool
	}{
		{"0", nil, []string{"host1", "host2"}, true},
		{"1", []string{"host1", "host2"}, nil, false},
	}
	for _, tt := range tests {
		t.Run("max_failures "+tt.maxFailures, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			// 1 passes its first check on host0, then no more.
			health := healthyCmd + ` && if [ {host} = host0 ] && [ {build} = 1 ]; then [ ! -e /srv/checked-1 ] && touch /srv/checked-1; fi`
			f := newFleetFixture(t, fleet, fleetSpec{health: health, healthTime: "2s", env: []string{`max_failures: "` + tt.maxFailures + `"`}}, nil)
			f.build("1")
			f.build("2")
			f.seed("1")
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)

			rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeFailed)
			t.Logf("rollback: %s: %s", rec.Outcome, rec.Error)
			if want := "rollback to 1 failed on host0"; !strings.Contains(rec.Error, want) {
				t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
			}
			if got := strings.Contains(rec.Error, "stopped there"); got != tt.stopped {
				t.Errorf("record error: got %q, want it to say it stopped: %v", rec.Error, tt.stopped)
			}
			hr := rec.Host("host0")
			checkHost(t, rec, "host0", deploy.HostFailed, "1")
			if want := "host0 stopped passing its health check after switching"; !strings.Contains(hr.Error, want) {
				t.Errorf("host0's error: got %q, want it to say %q", hr.Error, want)
			}
			for _, h := range tt.rolled {
				checkHost(t, rec, h, deploy.HostActive, "1")
			}
			for _, h := range tt.untouched {
				checkHost(t, rec, h, deploy.HostUnchanged, "2")
			}
		})
	}
}
