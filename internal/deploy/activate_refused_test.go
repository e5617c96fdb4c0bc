package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// pausedBeforeActivation is a store in front of which the replica running
// a run stalls past its lease's TTL just as it records that a host starts
// to switch, after the fencing check before the batch passed: meanwhile
// another replica's recovery takes the app+env over and records the run
// interrupted, then the stalled write reaches the store.
type pausedBeforeActivation struct {
	deploy.Store
	leases  *stealable
	recover func() error
	// at tells the write before which the replica stalls.
	at    func(*deploy.Record) bool
	armed atomic.Bool
	err   error
}

func (s *pausedBeforeActivation) PutRecord(ctx context.Context, r *deploy.Record) error {
	if r.Outcome == deploy.OutcomeRunning && s.at(r) && s.armed.CompareAndSwap(true, false) {
		s.leases.frozen.Store(true) // paused: nothing renews the lease
		s.err = s.recover()
		s.leases.frozen.Store(false) // resumed
	}
	return s.Store.PutRecord(ctx, r)
}

// TestRefusedActivationSwitchesNothing: the store refuses the write that
// says a host starts to switch, because another replica's recovery took
// the app+env over (the run's replica stalled past its lease between the
// fencing check and that write). The run must then leave the host alone:
// recovery recorded the hosts as they were, a person decides from that
// record, and a switch now would change a host behind it.
func TestRefusedActivationSwitchesNothing(t *testing.T) {
	// The stall outlasts the lease whatever its TTL; the runs before it
	// must not. Renewed every third of it, each renewal (a file store's
	// synced write) given a third to finish: 300ms let a loaded machine
	// lose the lease of the deploy of 1.
	const stallTTL = 3 * time.Second
	for _, c := range []struct {
		name  string
		kind  deploy.Kind
		build string                    // "" for a rollback to the previous release
		at    func(*deploy.Record) bool // the write before which the run stalls
		// current and restarts are what the host shows after the run.
		current, restarts string
	}{
		{name: "deploy", kind: deploy.KindDeploy, build: "3", at: switching("3"), current: "releases/2", restarts: "1\n2\n"},
		{name: "rollback", kind: deploy.KindRollback, at: switching("1"), current: "releases/2", restarts: "1\n2\n"},
		// Build 4 fails its health check: the switch back stalls.
		{name: "switch back", kind: deploy.KindDeploy, build: "4", at: switching("2"), current: "releases/4", restarts: "1\n2\n4\n"},
		// Build 5 has a migration: the write saying it runs stalls.
		{name: "migrations", kind: deploy.KindDeploy, build: "5", at: func(r *deploy.Record) bool {
			return r.MigrationState == deploy.MigrationsRunning
		}, current: "releases/2", restarts: "1\n2\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := &pausedBeforeActivation{at: c.at}
			f := newFixtureWith(t, failingHealth(fmt.Sprintf(fixtureYAML, "true")), func(o *deploy.Options) {
				store.leases = &stealable{Leaser: o.Leases}
				o.Leases = store.leases
				o.LeaseTTL = stallTTL
				store.Store = o.Store
				o.Store = store
			})
			// Recovery on another replica of the same store, once the
			// stalled run's lease ran out.
			other := deploy.NewEngine(deploy.Options{
				Config: f.cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
				Store: f.store, Leases: f.store, Locks: f.store, LeaseTTL: stallTTL,
			})
			t.Cleanup(other.Wait)
			var recovered []*deploy.Record
			store.recover = func() error {
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					got, err := other.Recover(context.Background())
					if err != nil {
						return err
					}
					if len(got) > 0 {
						recovered = got
						return nil
					}
				}
				return fmt.Errorf("the other replica never recovered the run")
			}
			f.build("1")
			f.build("2")
			f.build("3")
			f.build("4", tarEntry{name: "BROKEN", body: "x"})
			f.build("5", tarEntry{name: "migrations/005_more.sql", body: "alter table users;"})
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			store.armed.Store(true) // the next run's activation stalls
			rec, err := f.run(c.kind, c.build)
			if err != nil {
				t.Fatal(err)
			}
			if store.err != nil {
				t.Fatal(store.err)
			}
			if len(recovered) != 1 || recovered[0].ID != rec.ID {
				t.Fatalf("recovered %v, want the run %s", recovered, rec.ID)
			}
			if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
				t.Errorf("run: got %s (%s), want interrupted by the lost lease", rec.Outcome, rec.Error)
			}
			if got := f.link("current"); got != c.current {
				t.Errorf("current -> %s, want %s: the host switched after the store refused the run's write", got, c.current)
			}
			if got := f.read("restarts.log"); got != c.restarts {
				t.Errorf("restarts: got %q, want %q", got, c.restarts)
			}
			if got := f.read("applied"); strings.Contains(got, "005_more.sql") {
				t.Errorf("applied migrations: got %q; the run migrated after the store refused its write", got)
			}
			stored, err := f.store.Record(t.Context(), rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if h := stored.Host("localhost"); stored.Outcome != deploy.OutcomeInterrupted || h == nil || "releases/"+h.Current != c.current {
				t.Errorf("stored record: got %s, hosts %+v; want recovery's account, localhost on %s", stored.Outcome, stored.Hosts, c.current)
			}
		})
	}
}

// switching tells a record in which a host starts to switch to build.
func switching(build string) func(*deploy.Record) bool {
	return func(r *deploy.Record) bool {
		for _, h := range r.Hosts {
			if h.State == deploy.HostActivating && h.Switching == build {
				return true
			}
		}
		return false
	}
}
