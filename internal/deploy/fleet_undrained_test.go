package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestFleetHostNeverDrainedIsNotSwitched: a host whose drain failed, the
// HAProxy stats socket gone, is neither switched nor restarted: it fails
// as it was, on the release its process runs, and needs no switching
// back. Switched before its drain, it was left pointing at the new release
// under its old process, and went through the drain again to go back.
func TestFleetHostNeverDrainedIsNotSwitched(t *testing.T) {
	tests := []struct {
		maxFailures string
		outcome     deploy.Outcome
	}{
		{"0", deploy.OutcomeReverted}, // host1 fails beyond: every host goes back
		{"1", deploy.OutcomePartial},  // within: host1 goes back alone
	}
	for _, tt := range tests {
		t.Run("max_failures "+tt.maxFailures, func(t *testing.T) {
			fleet := startFleet(t, 2)
			proxy, _ := upstreams(t, fleet)
			// host0's second health check of build 2, the gate before
			// host1's batch, kills haproxy: host1's drain finds no socket.
			health := healthyCmd + fmt.Sprintf(` && if [ {host} = host0 ] && [ {build} = 2 ]; then if [ -e /srv/checked ]; then kill -9 %d || true; else touch /srv/checked; fi; fi`, proxy.PID())
			spec := poolSpec(proxy)
			// Each drain and ready on the dead socket waits out its
			// limit, four of them in a run that switches host0 back:
			// 30 s with the defaults here. 3 s is still ten times what
			// a drain (an idle server) and a ready (HAProxy's check
			// every 200 ms) take the live socket for host0.
			i := slices.Index(spec.env, "    drain_timeout: 5s")
			if i < 0 {
				t.Fatalf("no drain_timeout in %q", spec.env)
			}
			spec.env = slices.Replace(spec.env, i, i+1, "    drain_timeout: 3s", "    ready_timeout: 3s")
			spec.health = health
			spec.env = append(spec.env, `max_failures: "`+tt.maxFailures+`"`)
			f := newFleetFixture(t, fleet, spec, haproxyPools)
			f.build("1")
			f.seed("1")
			f.build("2")
			rec := f.mustRun(deploy.KindDeploy, "2", tt.outcome)
			t.Logf("deploy 2: %s: %s", rec.Outcome, rec.Error)
			if got := f.link(1, "current"); got != "releases/1" {
				t.Errorf("host1: current -> %q, want releases/1", got)
			}
			if hr := rec.Host("host1"); hr.State != deploy.HostFailed || hr.MayHaveSwitched() {
				t.Errorf("host1: got %s (%s), want failed and not switched", hr.State, hr.Error)
			}
			if strings.Contains(rec.Error, "could NOT switch back host1") || strings.Contains(rec.Error, "could NOT switch back host0, host1") {
				t.Errorf("record error: got %q, want host1 not among the hosts not switched back", rec.Error)
			}
			if want := "host1 was neither switched nor restarted, and putting it back into rotation failed"; !f.sawNote(rec.ID, want) {
				t.Errorf("no note saying %q; notes %q", want, f.notes(rec.ID))
			}
			if got, want := f.stepsOf(rec.ID, "host1"), []deploy.Step{deploy.StepDeliver, deploy.StepDrain}; !slices.Equal(got, want) {
				t.Errorf("host1 ran %v, want %v: neither switched nor restarted", got, want)
			}
		})
	}
}
