package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestLeaseRunOutByOwnClockBeforeSwitchBack: a deploy whose renewals have
// failed for longer than the lease's TTL has lost its lease by its own
// clock, even while the store, asked, still finds it held: another
// replica, whose clock is ahead, may hold the app+env by then. A host
// failing its health check then is not switched back, nor its build
// marked bad: the deploy ends interrupted, as when the store says so.
//
// The TTL passes by the engine's clock, which the test moves, not by a
// sleep: the TTL is long enough that no deploy here loses its lease to a
// loaded machine's held-up renewals, and only the move runs it out.
func TestLeaseRunOutByOwnClockBeforeSwitchBack(t *testing.T) {
	const ttl = time.Minute
	gate := filepath.Join(t.TempDir(), "gate")
	var ahead atomic.Int64 // how far the engine's clock is ahead of time.Now
	var leases *stealable
	f := newFixtureWith(t, failingHealth(fmt.Sprintf(fixtureYAML, gatedRestart(gate))), func(o *deploy.Options) {
		leases = &stealable{Leaser: o.Leases}
		o.Leases = leases
		o.LeaseTTL = ttl
		o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	f.build("1")
	f.build("2", tarEntry{name: "BROKEN", body: "x"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

	done := f.deployUntilRestart("2")
	leases.unrenewed.Store(true)
	// No renewal succeeds from here: twice the TTL on, the lease has run
	// out by this process's clock however late its last renewal was.
	ahead.Add(int64(2 * ttl))
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := <-done
	wantLeftToLeaseHolder(t, f, rec)
	if f.exists("releases/.bad-2") {
		t.Error("releases/.bad-2 exists: the deploy marked its build bad after its lease ran out")
	}
}
