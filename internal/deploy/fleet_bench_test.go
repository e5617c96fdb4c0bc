package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
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

// slowStore is a store whose record writes take as long as a commit on a
// cloud disk (two fsyncs, 3 ms) and, as with the embedded store, happen one
// at a time.
type slowStore struct {
	*embedded.Store
	mu     sync.Mutex
	writes atomic.Int64
}

func (s *slowStore) PutRecord(ctx context.Context, r *deploy.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes.Add(1)
	time.Sleep(3 * time.Millisecond)
	return s.Store.PutRecord(ctx, r)
}

// BenchmarkRecordWrites deploys to 20 hosts at once (parallel = batch_size
// = 20) with record writes of 3 ms each, and reports the writes per deploy:
// every host's state changes are on the record before the deploy goes on,
// and concurrent ones share a write. Run it with -bench RecordWrites
// -benchtime 5x.
func BenchmarkRecordWrites(b *testing.B) {
	fleet := startFleet(b, 20)
	f := newFleetFixture(b, fleet, fleetSpec{env: []string{"parallel: 20", "batch_size: 20"}}, nil)
	st, err := embedded.Open(filepath.Join(b.TempDir(), "state.db"), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	slow := &slowStore{Store: st}
	f.engine = deploy.NewEngine(deploy.Options{Config: f.cfg, Transport: f.transport, Store: slow, Leases: st, Locks: st})
	b.Cleanup(f.engine.Wait)
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	slow.writes.Store(0)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		build := strconv.Itoa(i + 2)
		f.build(build)
		b.StartTimer()
		f.mustRun(deploy.KindDeploy, build, deploy.OutcomeSucceeded)
	}
	b.ReportMetric(float64(slow.writes.Load())/float64(b.N), "writes/op")
}
