package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

func badMarked(f *fixture, host, build string) bool {
	_, err := os.Stat(filepath.Join(f.app+"-"+host, "releases/.bad-"+build))
	return err == nil
}

// A rollback over hosts on different releases that finishes a stuck host
// there marks bad no release that host did not leave (it once marked the
// host's `previous`).
func TestFinishingAHostOnMixedFleetMarksNothingElse(t *testing.T) {
	f, current := threeHostsConfig(t, 1, "true", failingHealth)
	broken := filepath.Join(f.app+"-h1", "releases/2/BROKEN-h1")
	os.WriteFile(broken, []byte("x"), 0o644)
	f.build("3", tarEntry{name: "BROKEN-h1", body: "x"})
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	os.Remove(broken)
	t.Logf("before rollback: h1 previous link %v, .bad-1 on h1: %v", func() string { l, _ := os.Readlink(filepath.Join(f.app+"-h1", "previous")); return l }(), badMarked(f, "h1", "1"))
	f.mustRun(deploy.KindRollback, "2", deploy.OutcomeSucceeded)
	for _, h := range []string{"h0", "h1", "h2"} {
		t.Logf("%s: current %s .bad-1=%v .bad-2=%v .bad-3=%v", h, current(h), badMarked(f, h, "1"), badMarked(f, h, "2"), badMarked(f, h, "3"))
	}
	if badMarked(f, "h1", "1") {
		t.Errorf("h1: release 1 marked bad by a rollback that restarted h1 on 2 (h1 never left 1 in it)")
	}
	// And 1 is still a rollback target.
	if _, err := f.store.DeleteLock(context.Background(), "web", "prod"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.run(deploy.KindRollback, "1"); err != nil {
		t.Errorf("rollback to 1 afterwards: %v", err)
	}
}

// A host whose switch back failed within max_failures, in a deploy then
// cancelled: the deploy ends reverted, naming it, and the next rollback
// finishes that host rather than take the whole fleet one release further
// back.
func TestCancelDoesNotHideAFailedSwitchBack(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	f, current := threeHostsConfig(t, 1, `if [ "$SWITCHMAN_HOST" = h1 ] && [ "$SWITCHMAN_BUILD" = 3 ]; then while [ ! -e `+gate+` ]; do sleep 0.05; done; fi`, failingHealth)
	broken := filepath.Join(f.app+"-h0", "releases/2/BROKEN-h0")
	os.WriteFile(broken, []byte("x"), 0o644)
	f.build("3", tarEntry{name: "BROKEN-h0", body: "x"})
	done := make(chan *deploy.Record, 1)
	restarting := make(chan struct{}, 1)
	if _, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "3", Requester: "ana"}, func(ev deploy.Event) {
		f.sink(ev)
		if ev.Kind == deploy.EventStep && ev.Host == "h1" && ev.Step == deploy.StepRestart && !ev.Done {
			select {
			case restarting <- struct{}{}:
			default:
			}
		}
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}); err != nil {
		t.Fatal(err)
	}
	<-restarting
	if _, err := f.engine.Cancel("web", "prod", "bob"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(gate, nil, 0o644)
	dep := <-done
	t.Logf("deploy 3: outcome %s: %s", dep.Outcome, dep.Error)
	for _, hr := range dep.Hosts {
		t.Logf("  %s %s on %s: %s", hr.Host, hr.State, hr.Current, hr.Error)
	}
	os.Remove(broken) // h0 fixed by hand; it still needs a restart on 2
	rb, err := f.run(deploy.KindRollback, "")
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	t.Logf("rollback: %s -> %s outcome %s", rb.Previous, rb.Build, rb.Outcome)
	for _, h := range []string{"h0", "h1", "h2"} {
		t.Logf("  %s: current %s .bad-2=%v", h, current(h), badMarked(f, h, "2"))
	}
	if dep.Outcome == deploy.OutcomeCancelled {
		t.Errorf("deploy ended cancelled although h0 could not be switched back")
	}
	if rb.Build != "2" {
		t.Errorf("rollback went to %s, want 2 (finish h0's switch back, leave the others)", rb.Build)
	}
}

// A deploy that dies while switching back a host that had passed leaves
// that host activating on the old release; the next rollback, named or
// not, restarts it there (it once said "already runs", or went further
// back).
func TestRollbackFinishesAnInterruptedSwitchBack(t *testing.T) {
	dir := t.TempDir()
	gate3, gate2, arm, inrevert := filepath.Join(dir, "g3"), filepath.Join(dir, "g2"), filepath.Join(dir, "arm"), filepath.Join(dir, "inrevert")
	f := newFixture(t, `if [ "$SWITCHMAN_BUILD" = 3 ]; then while [ ! -e `+gate3+` ]; do sleep 0.05; done; fi; if [ "$SWITCHMAN_BUILD" = 2 ] && [ -e `+arm+` ]; then touch `+inrevert+`; while [ ! -e `+gate2+` ]; do sleep 0.05; done; fi`)
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	f.build("3")
	os.WriteFile(arm, nil, 0o644)
	done := f.deployUntilRestart("3")
	if _, err := f.engine.Cancel("web", "prod", "bob"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(gate3, nil, 0o644)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(inrevert); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the switch back's restart did not start")
		}
	}
	// What a crash now leaves behind: the record as stored.
	running, err := f.store.Records(context.Background(), deploy.Filter{App: "web", Env: "prod", Outcome: deploy.OutcomeRunning})
	if err != nil || len(running) != 1 {
		t.Fatalf("running records: %v %v", running, err)
	}
	snap := running[0]
	t.Logf("mid switch back: host %+v (current link %s)", snap.Hosts[0], f.link("current"))
	os.WriteFile(gate2, nil, 0o644)
	<-done
	os.Remove(arm)
	// Recovery's account of the crash (observed current: 2).
	snap.Outcome, snap.Finished, snap.Error = deploy.OutcomeInterrupted, time.Now(), "the process stopped"
	snap.Hosts[0].Current = "2"
	if err := f.store.PutRecord(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	rb := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	if rb.Build != "2" || rb.Previous != "3" || f.link("current") != "releases/2" {
		t.Errorf("rollback after a run that died switching the host back to 2: from %s to %s, current %s; want 2 restarted where it is", rb.Previous, rb.Build, f.link("current"))
	}
	if !f.sawNote("finishing the last run's switch to 2: restarting localhost") {
		t.Error("the rollback did not say it restarts localhost on 2")
	}
}

// A failed switch back is not forgotten once a later run that changed
// nothing (a refused build) finishes.
func TestStuckHostOutlivesARunThatChangedNothing(t *testing.T) {
	f, current := threeHostsConfig(t, 0, "true", failingHealth)
	broken := filepath.Join(f.app+"-h0", "releases/2/BROKEN-h0")
	os.WriteFile(broken, []byte("x"), 0o644)
	f.build("3", tarEntry{name: "BROKEN-h0", body: "x"})
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeReverted)
	os.Remove(broken)
	f.write("4", tarball(t, false, tarEntry{name: "BUILD", body: "4"}), strings.Repeat("0", 64))
	f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeFailed)
	rb, err := f.run(deploy.KindRollback, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rollback: %s -> %s (%s)", rb.Previous, rb.Build, rb.Outcome)
	for _, h := range []string{"h0", "h1", "h2"} {
		t.Logf("  %s: current %s .bad-2=%v", h, current(h), badMarked(f, h, "2"))
	}
	if rb.Build != "2" {
		t.Errorf("rollback went to %s; want h0 restarted on 2 and the others left", rb.Build)
	}
}

// In a fleet on mixed releases, the switch back names the release each
// host went back to (it named the first host's for all), h1's too, which
// went back on its own within max_failures before h2 failed.
func TestSwitchBackMessageNamesEachHostsRelease(t *testing.T) {
	f, current := threeHostsConfig(t, 1, "true", failingHealth)
	f.build("3", tarEntry{name: "BROKEN-h0", body: "x"})
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	f.build("4", tarEntry{name: "BROKEN-h1", body: "x"}, tarEntry{name: "BROKEN-h2", body: "x"})
	dep := f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeReverted)
	t.Logf("deploy 4: %s", dep.Error)
	for _, h := range []string{"h0", "h1", "h2"} {
		t.Logf("  %s: current %s", h, current(h))
	}
	if want := "switched back to 2 on h0; switched back to 3 on h1, h2"; !strings.Contains(dep.Error, want) || current("h2") != "releases/3" {
		t.Errorf("record %q, h2 on %s; want it to say %q", dep.Error, current("h2"), want)
	}
}

// A host whose delivery failed in a partial deploy never switched: the
// next rollback does not take it for a stuck one.
func TestDeliveryFailureIsNotAStuckHost(t *testing.T) {
	f, current := threeHostsMax(t, 1)
	sh := filepath.Join(f.app+"-h0", "shared")
	os.Rename(sh, sh+".real")
	os.WriteFile(sh, []byte("not a dir"), 0o644)
	f.build("3")
	dep := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	os.Remove(sh)
	os.Rename(sh+".real", sh)
	t.Logf("deploy 3: %s; h0 %+v", dep.Error, *dep.Host("h0"))
	// The hosts run different releases: the rollback is named.
	rb := f.mustRun(deploy.KindRollback, "2", deploy.OutcomeSucceeded)
	t.Logf("rollback %q -> %s", rb.Previous, rb.Build)
	for _, h := range []string{"h0", "h1", "h2"} {
		t.Logf("  %s: current %s .bad-1=%v .bad-3=%v", h, current(h), badMarked(f, h, "1"), badMarked(f, h, "3"))
	}
	if f.sawNote("restarting h0, which switched to it") {
		t.Errorf("rollback says h0 switched to 2 and did not pass; h0 never switched (its delivery failed)")
	}
	if badMarked(f, "h0", "1") {
		t.Errorf("h0: release 1 marked bad")
	}
}

// TestRollbackToFromOverAMixedFleet: "rollback to 2 from 3", the button of
// a run that stopped half-way, undoes it while the hosts run 2 or 3, and
// refuses once a later deploy runs: an old message's click rolls back
// nothing newer.
func TestRollbackToFromOverAMixedFleet(t *testing.T) {
	f, current := threeHostsConfig(t, 1, "true", failingHealth)
	f.build("3", tarEntry{name: "BROKEN-h0", body: "x"})
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	rollback := func() (*deploy.Record, error) {
		done := make(chan *deploy.Record, 1)
		_, err := f.engine.Rollback(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", From: "3", Requester: "ana"}, func(ev deploy.Event) {
			if ev.Kind == deploy.EventFinished {
				done <- ev.Record
			}
		})
		if err != nil {
			return nil, err
		}
		return <-done, nil
	}
	rb, err := rollback()
	if err != nil || rb.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("rollback to 2 from 3 over h0 on 2, h1 and h2 on 3: %v %+v", err, rb)
	}
	for _, h := range []string{"h0", "h1", "h2"} {
		if c := current(h); c != "releases/2" {
			t.Errorf("%s: current %s, want releases/2", h, c)
		}
	}
	if _, err := f.store.DeleteLock(context.Background(), "web", "prod"); err != nil {
		t.Fatal(err)
	}
	f.build("4")
	f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded)
	if _, err := rollback(); err == nil || !strings.Contains(err.Error(), "runs 4 now, not 3") {
		t.Errorf("the same click after deploy 4: %v, want a refusal", err)
	}
}

// racingLocks runs between once it is armed, right after the next read
// of the locks: a person locks between the rollback's read of the locks
// and its write of its own.
type racingLocks struct {
	deploy.LockStore
	mu      sync.Mutex
	between func(ctx context.Context) error
}

func (s *racingLocks) arm(between func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.between = between
}

func (s *racingLocks) Locks(ctx context.Context) ([]deploy.Lock, error) {
	locks, err := s.LockStore.Locks(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.between != nil {
		err = s.between(ctx)
		s.between = nil
	}
	return locks, err
}

// TestRollbackLockKeepsWordOfTheLockItReplaces: a scope holds one lock, so
// the bot's lock after a rollback replaces a person's lock of the same
// scope; its reason says whose it was, so that whoever lifts it knows what
// was lifted with it. A lock of another scope is left alone.
func TestRollbackLockKeepsWordOfTheLockItReplaces(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	ctx := context.Background()
	since := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	for _, l := range []deploy.Lock{
		{App: "web", Env: "prod", Owner: "carl", Reason: "freeze", Created: since, Expires: time.Now().Add(7 * 24 * time.Hour)},
		{App: "web", Owner: "bob", Reason: "audit", Created: since},
	} {
		if err := f.store.PutLock(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	locks, err := f.store.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range locks {
		got[l.Scope()] = l.Owner + ": " + l.Reason
	}
	if want := "switchman: rolled back from 2 by ana: fix before deploying again; it replaces carl's lock since 2026-06-01 09:00 UTC: freeze"; !strings.HasPrefix(got["web/prod"], want) {
		t.Errorf("web/prod lock: got %q, want it to start %q", got["web/prod"], want)
	}
	if got["web"] != "bob: audit" {
		t.Errorf("web lock: got %q, want bob's, untouched", got["web"])
	}
	if !f.sawNote("it replaces carl's lock") {
		t.Error("the rollback's note does not say whose lock it replaced")
	}
}

// TestRollbackFinishesASwitchLeftOnAHostThatWasDown: a rollback whose
// process died while a host restarted on the target, the host down too
// when recovery looked, leaves that host to finish: the next rollback,
// named or not, restarts it where it is. The recovered record says the
// host was unreachable, which once hid that it never passed: the next
// rollback then took every host one release further back, or (named)
// answered that it ran the target already.
func TestRollbackFinishesASwitchLeftOnAHostThatWasDown(t *testing.T) {
	for _, named := range []string{"", "2"} {
		t.Run("to "+named, func(t *testing.T) {
			tr := &downTransport{}
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				tr.Transport = o.Transports["local"]
				o.Transports["local"] = tr
			})
			for _, b := range []string{"1", "2", "3"} {
				f.build(b)
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			// A rollback from 3 to 2 whose process died once the host
			// had switched, during its restart: the hosts as it left
			// them, and its record as it last wrote it.
			rb := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
			if _, err := f.store.DeleteLock(context.Background(), "web", "prod"); err != nil {
				t.Fatal(err)
			}
			dead := rb.Clone()
			dead.Outcome, dead.Finished, dead.Owner, dead.Fence = deploy.OutcomeRunning, time.Time{}, "gone:1", f.deadFence()
			dead.Hosts[0].State = deploy.HostActivating
			if err := f.store.PutRecord(context.Background(), dead); err != nil {
				t.Fatal(err)
			}
			tr.down.Store(true)
			if got, err := f.engine.Recover(t.Context()); err != nil || len(got) != 1 {
				t.Fatalf("recover: got %v, %v", got, err)
			}
			tr.down.Store(false)

			again := f.mustRun(deploy.KindRollback, named, deploy.OutcomeSucceeded)
			if again.Build != "2" || f.link("current") != "releases/2" || !f.sawNote("finishing the last run's switch to 2: restarting localhost") {
				t.Errorf("rollback %q after one that died restarting a host that was down at recovery: to %s, current %s, finishing noted %v; want localhost restarted on 2",
					named, again.Build, f.link("current"), f.sawNote("finishing the last run's switch to 2"))
			}
		})
	}
}

// beforeSwitchRecorded keeps the record of a rollback as the store held it
// just before the write saying a host switched: what a process killed
// between the switch and that write leaves behind.
type beforeSwitchRecorded struct {
	deploy.Store
	mu   sync.Mutex
	kept *deploy.Record
}

func (s *beforeSwitchRecorded) PutRecord(ctx context.Context, r *deploy.Record) error {
	s.mu.Lock()
	if s.kept == nil && r.Kind == deploy.KindRollback && slices.ContainsFunc(r.Hosts, func(h deploy.HostResult) bool { return h.Switched }) {
		if stored, err := s.Store.Record(ctx, r.ID); err == nil {
			s.kept = stored
		}
	}
	s.mu.Unlock()
	return s.Store.PutRecord(ctx, r)
}

// TestRollbackFinishesASwitchNotYetRecorded: a rollback killed after a
// host switched, before its record said so (the write follows the switch,
// while the restart runs), is recovered with that host switched, since
// recovery finds it on the target: the next rollback restarts it there.
// It once went by the record alone, found no run that switched a host,
// and took every host one release further back. With the host down when
// recovery looks, the record says what the rollback was switching it to,
// and the next rollback, which finds it there, restarts it the same:
// recorded unreachable and never switched, it was taken one release
// further back.
func TestRollbackFinishesASwitchNotYetRecorded(t *testing.T) {
	for _, down := range []bool{false, true} {
		t.Run(fmt.Sprintf("host down at recovery %v", down), func(t *testing.T) {
			st := &beforeSwitchRecorded{}
			tr := &downTransport{}
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				st.Store = o.Store
				o.Store = st
				tr.Transport = o.Transports["local"]
				o.Transports["local"] = tr
			})
			for _, b := range []string{"1", "2", "3"} {
				f.build(b)
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
			if _, err := f.store.DeleteLock(context.Background(), "web", "prod"); err != nil {
				t.Fatal(err)
			}
			dead := st.kept
			if dead == nil || dead.Hosts[0].State != deploy.HostActivating || dead.Hosts[0].Switched {
				t.Fatalf("the rollback's record before its switch was written: %+v; want localhost activating", dead)
			}
			dead.Owner, dead.Fence = "gone:1", f.deadFence()
			if err := f.store.PutRecord(context.Background(), dead); err != nil {
				t.Fatal(err)
			}
			tr.down.Store(down)
			got, err := f.engine.Recover(t.Context())
			if err != nil || len(got) != 1 {
				t.Fatalf("recover: got %v, %v", got, err)
			}
			tr.down.Store(false)
			h := got[0].Hosts[0]
			switch {
			case down && (h.State != deploy.HostUnreachable || h.Current != "3" || h.Switching != "2"):
				t.Errorf("recovered host: %+v; want it unreachable, on 3 or switching to 2", h)
			case !down && (!h.Switched || h.Current != "2" || h.Switching != ""):
				t.Errorf("recovered host: %+v; want it switched, on 2", h)
			}
			again := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
			if again.Build != "2" || f.link("current") != "releases/2" || !f.sawNote("finishing the last run's switch to 2: restarting localhost") {
				t.Errorf("rollback after one killed before recording its switch: to %s, current %s; want localhost restarted on 2", again.Build, f.link("current"))
			}
		})
	}
}

// TestRollbackTellsOfThePersonsLockItReplaced: the lock a rollback leaves
// on its app+env is reported to LockReplaced with the person's lock it
// replaced, the one in force when it was written (one taken meanwhile
// rather than the one first read), for the audit log; replacing nothing,
// the bot's own lock, or leaving a lock of another scope alone, it is
// not. A lock taken meanwhile is also quoted in the rollback's own lock
// and note, as one there before would be, not replaced unsaid.
func TestRollbackTellsOfThePersonsLockItReplaced(t *testing.T) {
	since := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	anas := deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "audit", Created: since, Expires: time.Now().Add(time.Hour)}
	carls := deploy.Lock{App: "web", Env: "prod", Owner: "carl", Reason: "freeze", Created: since.Add(time.Hour)}
	bots := deploy.Lock{App: "web", Env: "prod", Owner: deploy.LockOwnerBot, Reason: "rolled back from 3 by ana", Created: since}
	wider := deploy.Lock{App: "web", Owner: "bob", Reason: "release week", Created: since}
	const meanwhile = "rolled back from 2 by ana: fix before deploying again; it replaces carl's lock since 2026-06-01 10:00 UTC: freeze"
	for _, tc := range []struct {
		name    string
		before  *deploy.Lock
		between *deploy.Lock // taken after the rollback read the locks
		want    *deploy.Lock // reported as replaced; nil: no report
		// reason is what the rollback's lock says; "" leaves it unchecked.
		reason string
	}{
		{"none", nil, nil, nil, ""},
		{"a person's", &anas, nil, &anas, ""},
		{"the bot's", &bots, nil, nil, ""},
		{"a person's of a wider scope", &wider, nil, nil, ""},
		{"a person's taken meanwhile", nil, &carls, &carls, meanwhile},
		{"a person's in place of another's", &anas, &carls, &carls, meanwhile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				locks *racingLocks
				mu    sync.Mutex
				got   []deploy.Lock
				runs  []string
			)
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				locks = &racingLocks{LockStore: o.Locks}
				o.Locks = locks
				o.LockReplaced = func(_ context.Context, run *deploy.Record, replaced deploy.Lock) {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, replaced)
					runs = append(runs, run.ID)
				}
			})
			f.build("1")
			f.build("2")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			ctx := context.Background()
			if tc.before != nil {
				if err := f.store.PutLock(ctx, *tc.before); err != nil {
					t.Fatal(err)
				}
			}
			if tc.between != nil {
				locks.arm(func(ctx context.Context) error { return f.store.PutLock(ctx, *tc.between) })
			}
			rb := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case tc.want == nil && len(got) != 0:
				t.Errorf("reported as replaced: got %+v, want none", got)
			case tc.want != nil && (len(got) != 1 || !got[0].Equal(*tc.want) || runs[0] != rb.ID):
				t.Errorf("reported as replaced: got %+v by %q, want %+v by the rollback %s", got, runs, *tc.want, rb.ID)
			}
			if tc.reason == "" {
				return
			}
			held, err := f.store.Locks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(held) != 1 || held[0].Owner != deploy.LockOwnerBot || held[0].Reason != tc.reason {
				t.Errorf("locks: got %+v, want the bot's alone, reading %q", held, tc.reason)
			}
			if !f.sawNote("it replaces carl's lock") {
				t.Error("the rollback's note does not say it replaced carl's lock")
			}
		})
	}
}

// TestRollbackLockQuotesTheLockInTheBotsZone: the bot's lock quotes the
// lock it replaced with its times in the zone of the bot's clock, the one
// the lock's own reply, status and audit show them in, not in UTC.
func TestRollbackLockQuotesTheLockInTheBotsZone(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Now = func() time.Time { return time.Now().In(cet) }
	})
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	ctx := context.Background()
	since := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	lock := deploy.Lock{App: "web", Env: "prod", Owner: "carl", Reason: "freeze", Created: since, Expires: time.Now().Add(7 * 24 * time.Hour)}
	if err := f.store.PutLock(ctx, lock); err != nil {
		t.Fatal(err)
	}
	f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	locks, err := f.store.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 {
		t.Fatalf("locks: got %+v, want the bot's alone", locks)
	}
	want := fmt.Sprintf("it replaces carl's lock since 2026-06-01 10:00 CET: freeze (until %s)", lock.Expires.In(cet).Format("2006-01-02 15:04 CET"))
	if !strings.HasSuffix(locks[0].Reason, want) {
		t.Errorf("the bot's lock: got %q, want it to end %q", locks[0].Reason, want)
	}
}
