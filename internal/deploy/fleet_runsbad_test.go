package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestFleetRevertNamesHostsLeftOnTheBadBuild: a deploy of a build some
// hosts already run switches only the others; reverted, it marks the
// build bad everywhere and leaves those hosts on it. Its message said
// "release 2 marked bad; switched back to 1 on host0" and nothing of the
// hosts still running 2: whoever read it thought the env back on 1.
func TestFleetRevertNamesHostsLeftOnTheBadBuild(t *testing.T) {
	fleet := startFleet(t, 3)
	sick := filepath.Join(fleet.Hosts[0].Root, "sick-2")
	if err := os.WriteFile(sick, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Within max_failures, deploy 2 leaves host0 on 1, the others on 2.
	first := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, healthTime: "2s", env: []string{`max_failures: "1"`}}, nil)
	first.build("1")
	first.seed("1")
	first.build("2")
	first.mustRun(deploy.KindDeploy, "2", deploy.OutcomePartial)

	// Deployed again where failures are not allowed, host0 fails again.
	f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, healthTime: "2s"}, nil)
	f.build("2")
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	t.Logf("deploy 2: %s", rec.Error)
	want := "host1, host2 still run 2, which is marked bad now (they ran it before this deploy, which did not switch them): roll them back with " + suggest.Command("rollback web prod to 1")
	if !strings.Contains(rec.Error, want) {
		t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
	}
	for _, tt := range []struct {
		host    string
		runsBad bool
		current string
	}{{"host0", false, "1"}, {"host1", true, "2"}, {"host2", true, "2"}} {
		hr := rec.Host(tt.host)
		if hr.RunsBad != tt.runsBad || hr.Current != tt.current {
			t.Errorf("%s: got runs_bad %v current %s, want %v %s", tt.host, hr.RunsBad, hr.Current, tt.runsBad, tt.current)
		}
		if tt.runsBad && !strings.Contains(hr.Error, "still runs 2, which this revert marked bad") {
			t.Errorf("%s: error %q, want it to say it still runs 2, marked bad", tt.host, hr.Error)
		}
	}
	// The advice works: the rollback takes them to 1.
	f.mustRun(deploy.KindRollback, "1", deploy.OutcomeSucceeded)
	for i, h := range fleet.Hosts {
		if got := f.link(i, "current"); got != "releases/1" {
			t.Errorf("after the rollback, %s: current -> %q, want releases/1", h.Name, got)
		}
	}
}
