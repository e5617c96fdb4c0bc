package deploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// threeHostDirs is web/prod on three host directories, h0 to h2, with
// max_failures 1, that have run deploys of 1 and then 2: the last is
// returned. A host in m.down cannot be reached.
func threeHostDirs(t *testing.T) (f *fixture, m *downHosts, two *deploy.Record) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "web")
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n",
		"        transport: ssh\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n        max_failures: 1\n        hosts:\n          - {name: h0, address: 'a:22'}\n          - {name: h1, address: 'b:22'}\n          - {name: h2, address: 'c:22'}\n", 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	m = &downHosts{hostDirs: hostDirs{configured: root}, down: map[string]bool{}}
	f = newFixtureWith(t, yaml, func(o *deploy.Options) { o.Transports["ssh"] = m })
	m.app = f.app
	for _, b := range []string{"1", "2"} {
		f.build(b)
		two = f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	return f, m, two
}

// TestDryRunNothingToDoNamesTheHostsNotReached: with max_failures letting
// a deploy go on without a host it cannot reach, a deploy of the build the
// others run has nothing to do, and says the host it did not reach may run
// another release. Its dry run said only "a deploy would do nothing", as
// if that host ran the build too.
func TestDryRunNothingToDoNamesTheHostsNotReached(t *testing.T) {
	f, m, _ := threeHostDirs(t)
	m.mu.Lock()
	m.down["h2"] = true
	m.mu.Unlock()

	const said = "; h2 could not be reached, and may run another release"
	p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
	const want = "web/prod already runs build 2 on every reachable host; a deploy would do nothing" + said
	if errs.CodeOf(err) != errs.NoChange || errs.Message(err) != want {
		t.Fatalf("dry run: got %+v, %v; want %q", p, err, want)
	}
	_, err = f.run(deploy.KindDeploy, "2")
	if errs.CodeOf(err) != errs.NoChange || !strings.HasSuffix(errs.Message(err), said) {
		t.Errorf("deploy of 2: got %v; want nothing to do, ending %q as its dry run does", err, said)
	}
}

// TestDryRunNothingToDoSaysAnInterruptedRunIsResolved: a deploy that
// reaches every host, finds them all on its build and has nothing to do
// records a run that resolves an interrupted one (see
// TestNothingToDoResolvesAnInterruptedRun). Its dry run said only "a
// deploy would do nothing"; it says the run would be resolved, and records
// nothing itself. With a host not reached, nothing is resolved, and the
// dry run says only that host may run another release.
func TestDryRunNothingToDoSaysAnInterruptedRunIsResolved(t *testing.T) {
	tests := []struct {
		name     string
		down     string
		resolved bool
	}{
		{name: "every host reached", resolved: true},
		{name: "a host down", down: "h2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, m, two := threeHostDirs(t)
			// Deploy 3's process died before it switched a host; whoever
			// looked found the hosts on 2.
			d3 := two.Clone()
			d3.ID, d3.Build, d3.Previous, d3.Started = "20261123-130000-d3d3d3", "3", "2", time.Now()
			d3.Finished, d3.Outcome, d3.Error = d3.Started, deploy.OutcomeInterrupted, "the process running this deploy (gone:1) stopped before it finished; hosts are as observed at recovery"
			for i := range d3.Hosts {
				d3.Hosts[i] = deploy.HostResult{Host: d3.Hosts[i].Host, State: deploy.HostDelivered, Current: "2", Previous: "1"}
			}
			if err := f.store.PutRecord(context.Background(), d3); err != nil {
				t.Fatal(err)
			}
			if tt.down != "" {
				m.mu.Lock()
				m.down[tt.down] = true
				m.mu.Unlock()
			}
			const nothing = "web/prod already runs build 2 on every reachable host; a deploy would do nothing"
			want := nothing + "; deploy " + d3.ID + ", interrupted, would be resolved: every host was reached and runs 2, which a deploy records (unchanged)"
			if tt.down != "" {
				want = nothing + "; " + tt.down + " could not be reached, and may run another release"
			}
			p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
			if errs.CodeOf(err) != errs.NoChange || errs.Message(err) != want {
				t.Fatalf("dry run: got %+v, %v; want %q", p, err, want)
			}
			recs, err := f.store.Records(context.Background(), deploy.Filter{App: "web", Env: "prod"})
			if err != nil {
				t.Fatal(err)
			}
			if stuck, _ := deploy.Unresolved(recs); stuck == nil || stuck.ID != d3.ID || recs[0].ID != d3.ID {
				t.Fatalf("after the dry run: unresolved %+v, newest record %s; want deploy 3 for both, nothing recorded", stuck, recs[0].ID)
			}

			// The deploy does what its dry run said.
			_, err = f.run(deploy.KindDeploy, "2")
			if said := strings.Contains(errs.Message(err), "deploy "+d3.ID+", interrupted, is resolved"); errs.CodeOf(err) != errs.NoChange || said != tt.resolved {
				t.Fatalf("deploy of 2: got %v; want nothing to do, saying deploy 3 is resolved: %v", err, tt.resolved)
			}
			if !tt.resolved {
				return
			}
			p, err = f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
			if errs.CodeOf(err) != errs.NoChange || errs.Message(err) != nothing {
				t.Errorf("dry run once resolved: got %+v, %v; want %q", p, err, nothing)
			}
		})
	}
}
