package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRecoverDoesNotWaitOnAHungHost: the recovery of a run whose process
// died reads what each host runs, at the bot's start before it serves
// anything. A host that logs in and then hangs (its home or /srv on a
// network file system that stopped answering) held that read, and so the
// bot's start and its /healthz, for the env's whole step_timeout: minutes,
// long past an orchestrator's probes, which then kill the bot before it
// records the run interrupted, at every start. The read is bounded: the
// hung host is recorded as the run last saw it, and the record says it
// could not be read.
func TestRecoverDoesNotWaitOnAHungHost(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 2)
	f := newFleetFixture(t, fleet, fleetSpec{stepTimeout: "10m"}, nil)
	f.build("1")
	f.seed("1")
	ctx := context.Background()
	dead := putDeadOnFleet(t, f)
	// host1 hangs once logged in: its shell's startup file never ends.
	home := filepath.Join(fleet.Hosts[1].Root, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".bashrc"), []byte("sleep 3600\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	type result struct {
		recs []*deploy.Record
		err  error
	}
	done := make(chan result, 1)
	go func() {
		recs, err := f.engine.Recover(ctx)
		done <- result{recs, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("recovery still reading the hosts 2 minutes on, held by the hung host (step_timeout 10m)")
	}
	if res.err != nil || len(res.recs) != 1 {
		t.Fatalf("recover: got %d records, %v; want the dead run", len(res.recs), res.err)
	}
	rec, err := f.store.Record(ctx, dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeInterrupted {
		t.Errorf("outcome: got %s, want interrupted", rec.Outcome)
	}
	// host0 was read (the seed left it on 1); host1 keeps what the run
	// last recorded of it, and the record says it was not read.
	checkHost(t, rec, "host0", deploy.HostActive, "1")
	if h1 := hostResult(t, rec, "host1"); h1.Current != "2" || h1.State == deploy.HostActive || h1.State == deploy.HostActivating {
		t.Errorf("host1: got %+v, want it on 2 as last recorded, and not read", h1)
	}
	if !strings.Contains(rec.Error, "could not read host1 within 15s") {
		t.Errorf("record error %q does not say host1 could not be read within 15s", rec.Error)
	}
}

// putDeadOnFleet records a run of 2 on f's two hosts whose process died
// as host1 was activating, after host0 passed.
func putDeadOnFleet(t *testing.T, f *fleetFixture) *deploy.Record {
	t.Helper()
	ctx := context.Background()
	l, err := f.store.Acquire(ctx, deploy.LeaseKey("web", "prod"), "gone:1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	dead := &deploy.Record{ID: "20260101-000000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "ana", Started: time.Now().Add(-time.Minute), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: l.Token(),
		Run: strings.Repeat("ab", deploy.RunTokenLen/2),
		Hosts: []deploy.HostResult{
			{Host: "host0", State: deploy.HostActive, Current: "2", Previous: "1", Switched: true},
			{Host: "host1", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true},
		}}
	if err := f.store.PutRecord(ctx, dead); err != nil {
		t.Fatal(err)
	}
	return dead
}

// TestRecoverKeepsAHostLostMidStep: a host the dead run was activating
// (restarting, checking) that its recovery cannot reach may have hung in
// the middle of that step, and goes on with it once it is back. Its
// record says so (Lost), as for a host a run lost mid-step while it ran,
// so that the report of the interrupted run warns of it with the hosts
// the recovery found activating; a host that had passed is not marked.
func TestRecoverKeepsAHostLostMidStep(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 2)
	f := newFleetFixture(t, fleet, fleetSpec{connectTimeout: "2s"}, nil)
	f.build("1")
	f.seed("1")
	dead := putDeadOnFleet(t, f)
	fleet.Kill(0)
	fleet.Kill(1)
	if got, err := f.engine.Recover(context.Background()); err != nil || len(got) != 1 {
		t.Fatalf("recover: got %d records, %v; want the dead run", len(got), err)
	}
	rec, err := f.store.Record(context.Background(), dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		host string
		lost bool
	}{
		{"host0", false}, // it had passed
		{"host1", true},  // it was activating
	} {
		h := hostResult(t, rec, tt.host)
		if h.State != deploy.HostUnreachable || h.Lost != tt.lost {
			t.Errorf("%s: got state %s, lost %v; want unreachable, lost %v", tt.host, h.State, h.Lost, tt.lost)
		}
	}
}
