package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestFleetHealthGateChecksHostsTogether: the health gate before a batch
// checks the hosts switched so far at once (up to parallel), not one
// after another: with batch_size 1 that was about n²/2 checks in a row.
// Here host0's and host1's second checks of build 2, at the gate before
// the second batch, each pass only once both have started: checked one
// after another, host0's waits for host1's, which never comes.
func TestFleetHealthGateChecksHostsTogether(t *testing.T) {
	fleet := startFleet(t, 4)
	dir := t.TempDir() // outside /srv: every host sees it
	both := fmt.Sprintf(`[ -e %[1]s/gate-host0 ] && [ -e %[1]s/gate-host1 ]`, dir)
	health := healthyCmd + fmt.Sprintf(` && if [ -e %[1]s/seen-{host} ]; then touch %[1]s/gate-{host}; i=0; until %[2]s; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.05; done; else touch %[1]s/seen-{host}; fi`, dir, both)
	f := newFleetFixture(t, fleet, fleetSpec{health: health, healthTime: "8s", env: []string{"batch_size: 2", "parallel: 4"}}, nil)
	f.build("1")
	f.seed("1")
	f.build("2")
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	for _, h := range []string{"host0", "host1"} {
		if _, err := os.Stat(filepath.Join(dir, "gate-"+h)); err != nil {
			t.Errorf("%s: no gate check: %v", h, err)
		}
	}
	for _, h := range fleet.Hosts {
		checkHost(t, rec, h.Name, deploy.HostActive, "2")
	}
}

// BenchmarkFleetHealthGate deploys to 8 hosts with batch_size 1 and a
// health check taking 200 ms: before each batch the gate checks again
// every host switched so far (28 checks in all). Run it with -bench
// FleetHealthGate -benchtime 3x.
func BenchmarkFleetHealthGate(b *testing.B) {
	fleet := startFleet(b, 8)
	sub := &sshd.Fleet{Hosts: fleet.Hosts, KnownHosts: fleet.KnownHosts, ClientKey: fleet.ClientKey, User: fleet.User}
	f := newFleetFixture(b, sub, fleetSpec{health: healthyCmd + " && sleep 0.2"}, nil)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		build := fmt.Sprintf("b%d", i)
		f.build(build)
		b.StartTimer()
		f.mustRun(deploy.KindDeploy, build, deploy.OutcomeSucceeded)
	}
}
