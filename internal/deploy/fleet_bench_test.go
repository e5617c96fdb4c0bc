package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// BenchmarkFleetDeploy deploys a new small release over SSH to 1, 4 and 8
// hosts with the default batch_size 1, once per iteration: connect,
// inspect, deliver, install, switch, restart, health check and prune on
// every host. Run it with -bench FleetDeploy -benchtime 5x.
func BenchmarkFleetDeploy(b *testing.B) {
	fleet := startFleet(b, 8)
	for _, n := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			sub := &sshd.Fleet{Hosts: fleet.Hosts[:n], KnownHosts: fleet.KnownHosts, ClientKey: fleet.ClientKey, User: fleet.User}
			for _, h := range sub.Hosts {
				if err := os.RemoveAll(filepath.Join(h.Root, "web")); err != nil {
					b.Fatal(err)
				}
			}
			f := newFleetFixture(b, sub, fleetSpec{}, nil)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				build := fmt.Sprintf("b%d", i)
				f.build(build)
				b.StartTimer()
				f.mustRun(deploy.KindDeploy, build, deploy.OutcomeSucceeded)
			}
		})
	}
}
