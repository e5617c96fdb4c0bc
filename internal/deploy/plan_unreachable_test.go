package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// A dry run says when the deploy it plans would be refused for the hosts
// it cannot use: more than max_failures allows, or all of them. It used to
// plan such a deploy as if it would go ahead, with "fetch nothing: every
// reachable host has releases/2 on disk" when none answered.
func TestPlanSaysUnreachableHostsRefuseTheDeploy(t *testing.T) {
	t.Parallel()
	fleet, strict, lenient := thirdHostDown(t)
	plan := func(f *fleetFixture) *deploy.Plan {
		t.Helper()
		p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		return p
	}
	warned := func(p *deploy.Plan, want string) bool {
		for _, r := range p.Refusals {
			if strings.Contains(r, want) {
				return true
			}
		}
		return false
	}

	tests := []struct {
		name    string
		f       *fleetFixture
		stop    []int
		refuse  string // "" when the deploy would go ahead
		noFetch string // a step that must not be there
		then    string // how to go on, which the refusal says
	}{
		{name: "one down, max_failures 0", f: strict, refuse: "cannot reach 1 of 3 hosts of web/prod (max_failures allows 0)",
			then: "; to go on, bring host2 back, or set max_failures of web/prod to 1 or more in the config to go on without it"},
		{name: "one down, max_failures 1", f: lenient},
		{name: "all down", f: lenient, stop: []int{0, 1}, refuse: "cannot reach 3 of 3 hosts of web/prod", noFetch: "every reachable host has",
			then: "; to go on, bring them back"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, i := range tc.stop {
				fleet.Stop(i)
			}
			p := plan(tc.f)
			if tc.refuse == "" {
				for _, r := range p.Refusals {
					t.Errorf("refusal %q, want none: the deploy goes on without host2", r)
				}
				return
			}
			if !warned(p, tc.refuse) {
				t.Errorf("refusals %q: want one saying %q", p.Refusals, tc.refuse)
			}
			if !warned(p, tc.then) {
				t.Errorf("refusals %q: want one ending with how to go on: %q", p.Refusals, tc.then)
			}
			for _, s := range p.Steps {
				if tc.noFetch != "" && strings.Contains(s, tc.noFetch) {
					t.Errorf("step %q with no host reachable", s)
				}
			}
			// The deploy itself says the same.
			_, err := tc.f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "ana"}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.refuse) || !strings.Contains(err.Error(), tc.then) {
				t.Errorf("deploy: got %v, want a refusal saying %q and %q", err, tc.refuse, tc.then)
			}
		})
	}
}

// Of a build the reachable hosts run already, the deploy still refuses
// over the hosts it cannot reach before it finds nothing to do; the dry
// run said "a deploy would do nothing".
func TestPlanUnreachableHostsBeforeNothingToDo(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 2)
	f := newFleetFixture(t, fleet, fleetSpec{}, nil)
	f.build("2")
	f.seed("2")
	fleet.Stop(1)
	const want = "cannot reach 1 of 2 hosts of web/prod (max_failures allows 0)"
	p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
	if err != nil {
		t.Fatalf("plan: got %v, want a plan refusing it: %q", err, want)
	}
	if len(p.Refusals) == 0 || !strings.HasPrefix(p.Refusals[0], want) {
		t.Errorf("refusals %q, want %q", p.Refusals, want)
	}
	_, err = f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "ana"}, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot reach 1 of 2 hosts") {
		t.Errorf("deploy: got %v, want it refused for host1", err)
	}
}

// The hosts a deploy leaves out as unreachable count against max_failures:
// with max_failures 1 and a host down, the next host to fail switches every
// host back. The dry run said that a failing host would be switched back
// alone, the deploy ending partial.
func TestPlanCountsUnreachableHostsAgainstMaxFailures(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 4)
	f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, healthTime: "2s", env: []string{"max_failures: 2"}}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	fleet.Stop(3)

	p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
	if err != nil {
		t.Fatal(err)
	}
	const want = "a host that fails is switched back alone while no more than 2 have failed, host3 left out as unusable among them"
	if step := strings.Join(p.Steps, "\n"); !strings.Contains(step, want) {
		t.Errorf("steps %q, want %q", p.Steps, want)
	}

	fleet.Stop(2)
	p, err = f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
	if err != nil {
		t.Fatal(err)
	}
	const wantNone = "on a failure every switched host is switched back: max_failures (2) is used up by host2 and host3, left out as unusable"
	if step := strings.Join(p.Steps, "\n"); !strings.Contains(step, wantNone) || strings.Contains(step, "switched back alone") {
		t.Errorf("steps %q, want %q", p.Steps, wantNone)
	}
	// As the deploy does: host1 failing switches host0 back too.
	if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "sick-2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	checkHost(t, rec, "host0", deploy.HostReverted, "1")
}
