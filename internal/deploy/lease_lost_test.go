package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestRollbackThatLostItsLeaseKeepsItsLock: a rollback whose lease is
// lost while its (last) host restarts ends interrupted and leaves the lock
// it took, under its lease, before its first switch: the release it was
// leaving still runs wherever it had not got to, and nothing may deploy it
// again unsaid. It writes nothing after losing the lease, though: the lock
// is the one it took then, not written again, and its record says that the
// lock stays. It once locked only after every host switched, and left the
// app+env unlocked.
func TestRollbackThatLostItsLeaseKeepsItsLock(t *testing.T) {
	dir := t.TempDir()
	arm, gate := filepath.Join(dir, "arm"), filepath.Join(dir, "gate")
	restart := `if [ -e ` + arm + ` ]; then while [ ! -e ` + gate + ` ]; do sleep 0.05; done; fi`
	f, leases := newStealableFixtureTTL(t, fmt.Sprintf(fixtureYAML, restart), stealTTL)
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if err := os.WriteFile(arm, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan *deploy.Record, 1)
	restarting := make(chan struct{}, 1)
	_, err := f.engine.Rollback(context.Background(), deploy.Request{App: "web", Env: "prod", Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventStep && ev.Step == deploy.StepRestart && !ev.Done {
			select {
			case restarting <- struct{}{}:
			default:
			}
		}
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	<-restarting
	before, err := f.store.Locks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	leases.stolen.Store(true) // another replica holds web/prod now
	for deadline := time.Now().Add(10 * time.Second); leases.refused.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rollback did not find its lease lost within 10 s")
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := <-done
	const kept = "it locked web/prod before its first switch, and the lock stays until someone unlocks it"
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, kept) {
		t.Errorf("rollback outcome %s (%s), want interrupted, saying %q", rec.Outcome, rec.Error, kept)
	}
	after, err := f.store.Locks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const reason = "rolled back from 2 by ana: fix before deploying again"
	if len(before) != 1 || before[0].Owner != deploy.LockOwnerBot || before[0].Reason != reason {
		t.Errorf("locks while the rollback restarted its host: got %+v, want the bot's, reading %q", before, reason)
	}
	if len(after) != 1 || len(before) != 1 || !after[0].Equal(before[0]) {
		t.Errorf("locks after the rollback lost its lease: got %+v, want the one it took before, %+v", after, before)
	}
}

// recoveryBarrier makes two recoverers' recoveries of one record overlap,
// as two replicas' whose recovery loops tick together: each one's read of
// the record waits until the other has read it too, or has finished its
// Recover. Either way, neither writes before the other has read the
// record as running or given up on it, however late the machine's load
// starts the other.
type recoveryBarrier struct {
	id      string
	mu      sync.Mutex
	arrived [2]bool
	met     chan struct{} // closed once both arrived
}

func newRecoveryBarrier(id string) *recoveryBarrier {
	return &recoveryBarrier{id: id, met: make(chan struct{})}
}

// arrive tells the barrier that recoverer i has read the record or
// finished its Recover.
func (b *recoveryBarrier) arrive(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.arrived[i] {
		return
	}
	b.arrived[i] = true
	if b.arrived[0] && b.arrived[1] {
		close(b.met)
	}
}

// barrierStore is recoverer i's view of the store: its reads of the
// barrier's record wait at the barrier.
type barrierStore struct {
	deploy.Store
	b *recoveryBarrier
	i int
}

func (s *barrierStore) Record(ctx context.Context, id string) (*deploy.Record, error) {
	r, err := s.Store.Record(ctx, id)
	if id != s.b.id {
		return r, err
	}
	s.b.arrive(s.i)
	select {
	case <-s.b.met:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	return r, err
}

// TestSupersededDeadDeployReportedOnce: a dead deploy whose app+env another
// deploy holds now is recovered without any lease, so two replicas both
// mark it interrupted and both report it.
func TestSupersededDeadDeployReportedOnce(t *testing.T) {
	f := newFixture(t, "")
	dead := f.putDead("2", deploy.HostResult{Host: "localhost", State: deploy.HostDelivering})
	// Another deploy holds web/prod now (on some replica).
	if _, err := f.store.Acquire(t.Context(), "deploy:web/prod", "20260101-000100-other0 deploy of build 3 by bob", time.Minute); err != nil {
		t.Fatal(err)
	}
	b := newRecoveryBarrier(dead.ID)
	var engines []*deploy.Engine
	for i := range 2 {
		engines = append(engines, deploy.NewEngine(deploy.Options{
			Config: f.cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
			Store: &barrierStore{Store: f.store, b: b, i: i}, Leases: f.store, Locks: f.store,
		}))
	}
	var mu sync.Mutex
	reports := 0
	var wg sync.WaitGroup
	for i, e := range engines {
		wg.Go(func() {
			defer b.arrive(i)
			got, err := e.Recover(context.Background())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			reports += len(got)
			mu.Unlock()
		})
	}
	wg.Wait()
	if reports != 1 {
		t.Errorf("the dead deploy was reported %d times, want once", reports)
	}
}

// TestSupersededDeadDeployWrittenUnderTheHoldersToken: the store refuses
// a record written under an older token than the newest of its app+env's
// lease, so a dead deploy whose app+env another deploy holds now is
// marked interrupted under that deploy's token, not one above its own:
// the lease may have changed hands more than once since it died.
func TestSupersededDeadDeployWrittenUnderTheHoldersToken(t *testing.T) {
	f := newFixture(t, "")
	dead := f.putDead("2", deploy.HostResult{Host: "localhost", State: deploy.HostDelivering})
	f.deadFence() // the lease changed hands once more since
	l, err := f.store.Acquire(t.Context(), deploy.LeaseKey("web", "prod"), "20260101-000100-other0 deploy of build 3 by bob", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.engine.Recover(t.Context())
	if err != nil || len(got) != 1 {
		t.Fatalf("recover: got %d records, %v; want the dead deploy", len(got), err)
	}
	stored, err := f.store.Record(t.Context(), dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Outcome != deploy.OutcomeInterrupted || stored.Fence != l.Token() {
		t.Errorf("stored record: got %s, fence %d; want interrupted under the holder's token %d", stored.Outcome, stored.Fence, l.Token())
	}
}

// takenOverAtTheEnd is a store into which another replica's recovery
// writes its account of a run (interrupted, under a newer fence) just
// before the run's final record: the replica running it stalled past its
// lease's TTL as it finished.
type takenOverAtTheEnd struct {
	deploy.Store
	once sync.Once
}

func (s *takenOverAtTheEnd) PutRecord(ctx context.Context, r *deploy.Record) error {
	var err error
	if r.Outcome.Done() {
		s.once.Do(func() {
			rec := r.Clone()
			rec.Fence++
			rec.Outcome = deploy.OutcomeInterrupted
			rec.Error = "the process running this deploy stopped before it finished; hosts are as observed at recovery"
			err = s.Store.PutRecord(ctx, rec)
		})
	}
	if err != nil {
		return err
	}
	return s.Store.PutRecord(ctx, r)
}

// TestRefusedFinalRecordSaysTheLeaseWasLost: a run whose final record the
// store refuses, because recovery took the record over, ends as the
// replica that lost the deploy lease, not with the outcome nobody
// recorded: the chat would tell of a success next to the other replica's
// "interrupted", and post-deploy work would start for it.
func TestRefusedFinalRecordSaysTheLeaseWasLost(t *testing.T) {
	store := &takenOverAtTheEnd{}
	var observed []deploy.Event
	var mu sync.Mutex
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		store.Store = o.Store
		o.Store = store
		o.Observers = append(o.Observers, func(ev deploy.Event) {
			if ev.Kind == deploy.EventFinished {
				mu.Lock()
				observed = append(observed, ev)
				mu.Unlock()
			}
		})
	})
	f.build("1")
	rec, err := f.run(deploy.KindDeploy, "1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("final event: got %s (%s), want interrupted, saying the deploy lease was lost", rec.Outcome, rec.Error)
	}
	// The recovery that recorded it interrupted tells its observers: the
	// run's own end would count it twice.
	mu.Lock()
	for _, ev := range observed {
		t.Errorf("observers (post-deploy work, metrics) got the run's end (%s), want none", ev.Record.Outcome)
	}
	mu.Unlock()
	stored, err := f.store.Record(t.Context(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Outcome != deploy.OutcomeInterrupted || !strings.Contains(stored.Error, "observed at recovery") {
		t.Errorf("stored record: got %s (%s), want recovery's account", stored.Outcome, stored.Error)
	}
}
