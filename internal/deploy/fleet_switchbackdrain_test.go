package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/haproxy"
)

// TestFleetSwitchBackDrainIsLabelled: when a deploy's canary fails, a host
// an earlier run left switched to the build goes back with the canary,
// though this run never switched it. Its drain is the first step of its
// switch back, as the canary's is: the progress showed it as a plain
// "draining", a forward step's, and only its revert step as going back.
func TestFleetSwitchBackDrainIsLabelled(t *testing.T) {
	fleet := startFleet(t, 2)
	proxy, hap := upstreams(t, fleet)
	spec := poolSpec(proxy)
	spec.health = sickableCmd
	spec.healthTime = "1s"
	spec.env = append(spec.env, "canary: 1")
	f := newFleetFixture(t, fleet, spec, haproxyPools)
	f.build("1")
	f.seed("1")
	f.build("2")

	// What a run of 2 that died after switching host1 leaves: 2 unpacked
	// there, current pointing at it, host1 drained, its restart never run.
	art := filepath.Join(f.arts, "web-2.tar.gz")
	rel := filepath.Join(f.root(1), "releases", "2")
	if err := os.MkdirAll(rel, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xzf", art, "-C", rel).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v: %s", art, err, out)
	}
	sh(t, "cd "+f.root(1)+" && ln -sfn releases/2 current && ln -sfn releases/1 previous")
	if err := hap.SetState(context.Background(), proxy.Backend(), "host1", haproxy.StateMaint); err != nil {
		t.Fatal(err)
	}
	dead := &deploy.Record{ID: "20260101-000000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: fleetDeadFence(t, f),
		Hosts: []deploy.HostResult{
			{Host: "host0", State: deploy.HostDelivered, Current: "1", Previous: "1"},
			{Host: "host1", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true},
		}}
	if err := f.store.PutRecord(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The canary, host0, fails 2: the deploy stops before host1, and
	// both go back to 1.
	if err := os.WriteFile(filepath.Join(fleet.Hosts[0].Root, "sick-2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	for i, h := range fleet.Hosts {
		if got := f.link(i, "current"); got != "releases/1" {
			t.Fatalf("%s: current -> %q, want releases/1", h.Name, got)
		}
	}

	var p commands.Progress
	got := map[string]string{} // each host's state (before its error) once its last drain started
	f.mu.Lock()
	for _, ev := range f.events {
		if ev.DeployID != rec.ID {
			continue
		}
		p.Apply(ev)
		if ev.Kind == deploy.EventStep && ev.Step == deploy.StepDrain && !ev.Done {
			for _, fl := range p.Message(time.Now()).Fields {
				if fl.Label == ev.Host {
					got[ev.Host], _, _ = strings.Cut(fl.Value, " — ")
				}
			}
		}
	}
	f.mu.Unlock()
	for _, host := range []string{"host0", "host1"} {
		if want := "switching back: draining"; got[host] != want {
			t.Errorf("%s: got %q as its switch back's drain started, want %q", host, got[host], want)
		}
	}
}
