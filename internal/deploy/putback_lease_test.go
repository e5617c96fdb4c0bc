package deploy_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestPutBackAfterTheLeaseWasLost: a host the last run left out of
// rotation without switching it, which a rollback does not switch either,
// is not put back into rotation by a rollback whose lease another replica
// took after its last fencing check: the replica holding the app+env now
// may have drained it to switch it. The rollback leaves it out, says so
// naming it, and ends interrupted, as any run that lost its lease does.
func TestPutBackAfterTheLeaseWasLost(t *testing.T) {
	pool := &halfDrainPool{fakePool: fakePool{state: map[string]string{}}}
	root := filepath.Join(t.TempDir(), "web")
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n",
		"        transport: ssh\n        max_failures: \"1\"\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n        hosts:\n"+
			"          - {name: h0, address: 'h0:22'}\n          - {name: h1, address: 'h1:22'}\n", 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	m := &hostDirs{configured: root}
	var leases *stealable
	f := newFixtureWith(t, yaml, func(o *deploy.Options) {
		o.Transports["ssh"] = m
		o.Pools = func(*config.App, *config.Env) (deploy.Pool, error) { return pool, nil }
		leases = &stealable{Leaser: o.Leases}
		o.Leases = leases
	})
	m.app = f.app
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	// h0's drain fails after taking it out, and so does its return: the
	// deploy of 3 leaves it out, on 2.
	pool.set("h0", "h0")
	f.build("3")
	rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	if hr := rec.Host("h0"); !hr.LeftOut || hr.Current != "2" {
		t.Fatalf("h0: got left out %v on %q, want left out on 2", hr.LeftOut, hr.Current)
	}
	pool.set("", "")

	f.watch = func(ev deploy.Event) {
		if ev.Kind == deploy.EventStep && ev.Step == deploy.StepReady && ev.Done && ev.Host == "h1" {
			// h1, the only host the rollback switches, is back in
			// rotation (under the lease, checked before): the next
			// check, the last before h0 would be put back, is the last
			// that finds the lease held.
			leases.stealAfterCheck.Store(true)
		}
	}
	rec, err := f.run(deploy.KindRollback, "2")
	if err != nil {
		t.Fatal(err)
	}
	notes := f.noteTexts()
	if !leases.stolen.Load() {
		t.Fatal("the lease was never taken over: no check after h1 was put back into rotation")
	}
	if got := pool.get("h0"); got != "drain" {
		t.Errorf("h0 is %q in the load balancer after the rollback that lost its lease; want drain, as the last run left it", got)
	}
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("rollback to 2: got %s (%s), want interrupted by the lost lease", rec.Outcome, rec.Error)
	}
	const said = "h0 not put back into rotation, left out as the last run left it: this replica lost the deploy lease"
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, said) }) {
		t.Errorf("notes: got %q, want one starting %q", notes, said)
	}
}
