package deploy_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestFleetHungHostWithinMaxFailures: a host that hangs in the middle of
// its restart (SIGSTOP: its TCP connection stays open, nothing answers)
// is one failure: within max_failures the deploy records it lost and goes
// on to the other hosts, ending partial, and what status reads of the
// hosts meanwhile says the hung one did not answer, within the time
// status gives them, rather than waiting on it.
func TestFleetHungHostWithinMaxFailures(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	hold := `if [ "$SWITCHMAN_HOST" = host1 ] && [ "$SWITCHMAN_BUILD" = 2 ] && [ ! -e /srv/held ]; then touch /srv/held; sleep 86400; fi`
	f := newFleetFixture(t, fleet, fleetSpec{restart: hold, keepalive: "500ms", connectTimeout: "1s", stepTimeout: "20s",
		env: []string{"max_failures: 1", "batch_size: 1"}}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")

	rec, done, err := f.start(deploy.KindDeploy, "2")
	if err != nil {
		t.Fatal(err)
	}
	name := fleet.Hosts[1].Name
	f.await(rec.ID, "restart on "+name, stepStarted(name, deploy.StepRestart))
	for deadline := time.Now().Add(fleetWait); !slices.ContainsFunc(carrying(t, rec.Run), func(p string) bool {
		return strings.HasSuffix(p, " sleep 86400 ")
	}); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the restart on %s did not begin its hold", name)
		}
	}
	fleet.Pause(1)
	t.Cleanup(func() { fleet.Resume(1) })
	got := f.wait(done)
	t.Logf("%s hung during its restart: %s: %s", name, got.Outcome, got.Error)
	if got.Outcome != deploy.OutcomePartial {
		t.Fatalf("outcome: got %s (%s), want partial: one failure is within max_failures 1", got.Outcome, got.Error)
	}
	for i, h := range fleet.Hosts {
		hr := got.Host(h.Name)
		switch {
		case hr == nil:
			t.Errorf("%s: not in the record", h.Name)
		case i == 1 && (!hr.Lost || hr.State == deploy.HostActive || !strings.Contains(hr.Error, "stopped answering")):
			t.Errorf("%s: got %+v, want it lost, not active, its error saying it stopped answering", h.Name, *hr)
		case i != 1 && (hr.State != deploy.HostActive || hr.Current != "2"):
			t.Errorf("%s: got %+v, want it active on 2: the deploy goes on past one hung host", h.Name, *hr)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	hosts, err := f.engine.Observe(ctx, "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("observed in %s", time.Since(start).Round(time.Millisecond))
	for i, hr := range hosts {
		switch {
		case i == 1 && hr.State != deploy.HostUnreachable:
			t.Errorf("observed %s: got %+v, want it unreachable", hr.Host, hr)
		case i != 1 && hr.Current != "2":
			t.Errorf("observed %s: got %+v, want it on 2", hr.Host, hr)
		}
	}
}

// TestFleetObserveHungHostIsUnreachable: status reads the hosts within a
// time of its own, shorter than the SSH connect timeout (5s, 10s by
// default). A host that accepts the connection and never answers (hung)
// is still reading its banner when that time is up: it did not answer,
// and is reported unreachable, as one whose connect timeout passed is,
// not as a host that refused the bot (its key, the login).
func TestFleetObserveHungHostIsUnreachable(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 2)
	f := newFleetFixture(t, fleet, fleetSpec{connectTimeout: "10s"}, nil)
	f.build("1")
	f.seed("1")
	fleet.Pause(1)
	t.Cleanup(func() { fleet.Resume(1) })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	hosts, err := f.engine.Observe(ctx, "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if got := hosts[0]; got.Current != "1" {
		t.Errorf("observed %s: got %+v, want it on 1", got.Host, got)
	}
	got := hosts[1]
	if got.State != deploy.HostUnreachable || !strings.Contains(got.Error, "no answer") {
		t.Errorf("observed %s: got %+v, want it unreachable, its error saying it gave no answer", got.Host, got)
	}
}
