package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// markerDirPool is a pool whose drain of host, once armed, puts a
// directory where the switch clears build's bad marker: the switch
// fails after its rename, with `current` on build.
type markerDirPool struct {
	fakePool
	dir, host, build string
	armed            bool
}

func (p *markerDirPool) Drain(ctx context.Context, h deploy.Host) error {
	p.mu.Lock()
	armed := p.armed && h.Name == p.host
	p.mu.Unlock()
	if armed {
		if err := os.MkdirAll(filepath.Join(p.dir, "releases", ".bad-"+p.build, "keep"), 0o755); err != nil {
			return err
		}
	}
	return p.fakePool.Drain(ctx, h)
}

// TestFailedSwitchThatMovedCurrentIsRecordedSwitched: h0's switch to its
// first release fails after `current` moved there, within max_failures,
// so nothing switches it back and it stays drained on the build, never
// restarted. Its record says it switched, and deploying the build again
// restarts it there and puts it back into rotation. Recorded on the build
// but not switched, it read as a host running the build already, which
// someone else took out of rotation: the next run neither restarted it
// nor put it back.
func TestFailedSwitchThatMovedCurrentIsRecordedSwitched(t *testing.T) {
	pool := &markerDirPool{fakePool: fakePool{state: map[string]string{}}, host: "h0", build: "1", armed: true}
	root := filepath.Join(t.TempDir(), "web")
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n",
		"        transport: ssh\n        max_failures: \"1\"\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n        hosts:\n"+
			"          - {name: h0, address: 'h0:22'}\n          - {name: h1, address: 'h1:22'}\n", 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	m := &hostDirs{configured: root}
	f := newFixtureWith(t, yaml, func(o *deploy.Options) {
		o.Transports["ssh"] = m
		o.Pools = func(*config.App, *config.Env) (deploy.Pool, error) { return pool, nil }
	})
	m.app = f.app
	h0 := f.app + "-h0"
	pool.mu.Lock()
	pool.dir = h0
	pool.mu.Unlock()
	f.build("1")
	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomePartial)
	hr := rec.Host("h0")
	if hr == nil || hr.State != deploy.HostFailed || hr.Current != "1" || !hr.MayHaveSwitched() {
		t.Fatalf("h0 after its switch failed past the rename: got %+v, want failed on 1, switched", hr)
	}
	if got := pool.get("h0"); got != "maint" {
		t.Fatalf("h0 is %q in the load balancer after its failed switch; want maint", got)
	}
	if _, err := os.Stat(filepath.Join(h0, "restarts.log")); !os.IsNotExist(err) {
		t.Fatalf("h0 was restarted before its switch step passed (stat: %v)", err)
	}

	pool.mu.Lock()
	pool.armed = false
	pool.mu.Unlock()
	if err := os.RemoveAll(filepath.Join(h0, "releases", ".bad-1")); err != nil {
		t.Fatal(err)
	}
	rec = f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if hr := rec.Host("h0"); hr == nil || hr.State != deploy.HostActive {
		t.Errorf("h0 after deploying 1 again: got %+v, want active", hr)
	}
	if got, _ := os.ReadFile(filepath.Join(h0, "restarts.log")); string(got) != "1\n" {
		t.Errorf("h0's restarts after deploying 1 again: got %q, want %q", got, "1\n")
	}
	if got := pool.get("h0"); got != "ready" {
		t.Errorf("h0 is %q in the load balancer after deploying 1 again; want ready", got)
	}
}
