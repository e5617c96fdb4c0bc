package deploy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
)

type fakePool struct {
	mu    sync.Mutex
	state map[string]string
}

// Check reports the hosts it holds in maint, as HAProxy would.
func (p *fakePool) Check(_ context.Context, hosts []deploy.Host) (map[string]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for _, h := range hosts {
		if p.state[h.Name] == "maint" {
			out[h.Name] = deploy.PoolMaint
		}
	}
	return out, nil
}

func (p *fakePool) Drain(_ context.Context, h deploy.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[h.Name] = "maint"
	return nil
}

func (p *fakePool) Ready(_ context.Context, h deploy.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[h.Name] = "ready"
	return nil
}

func (p *fakePool) get(h string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state[h]
}

// A deploy that died after h0 switched to 3 and was drained (before its
// restart) is reported interrupted; status says "/rollback, or /deploy
// BUILD". Deploying 3 again restarts h0 there, checks it and puts it back
// in the pool, rather than skip it as running 3 already.
func TestRedeployFinishesAnInterruptedHost(t *testing.T) {
	pool := &fakePool{state: map[string]string{}}
	f := newPoolFixture(t, pool, "h0", "h1", "h2")
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	// What a crash of a deploy of 3 leaves: 3 delivered everywhere, h0
	// switched to it and drained, its restart never run.
	for _, h := range []string{"h0", "h1", "h2"} {
		dir := f.app + "-" + h
		sh(t, "cp -a "+dir+"/releases/2 "+dir+"/releases/3 && echo 3 > "+dir+"/releases/3/BUILD")
	}
	sh(t, "cd "+f.app+"-h0 && ln -sfn releases/3 current && ln -sfn releases/2 previous")
	if err := pool.Drain(context.Background(), deploy.Host{Name: "h0"}); err != nil {
		t.Fatal(err)
	}
	// Newer than the deploys above, as a dead deploy of 3 would be.
	dead := &deploy.Record{ID: "29991231-235959-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "3", Previous: "2",
		Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: f.deadFence(),
		Hosts: []deploy.HostResult{
			{Host: "h0", State: deploy.HostActivating, Current: "3", Previous: "2", Switched: true},
			{Host: "h1", State: deploy.HostDelivered, Current: "2", Previous: "2"},
			{Host: "h2", State: deploy.HostDelivered, Current: "2", Previous: "2"},
		}}
	if err := f.store.PutRecord(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.build("3")
	restartsBefore, _ := os.ReadFile(filepath.Join(f.app+"-h0", "restarts.log"))
	rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	restartsAfter, _ := os.ReadFile(filepath.Join(f.app+"-h0", "restarts.log"))
	for _, hr := range rec.Hosts {
		t.Logf("%s: %s on %s; pool state %s", hr.Host, hr.State, hr.Current, pool.get(hr.Host))
	}
	t.Logf("h0 restarts.log before %q after %q", restartsBefore, restartsAfter)
	if pool.get("h0") != "ready" {
		t.Errorf("deploy of 3 succeeded, but h0 is left %s in the load balancer", pool.get("h0"))
	}
	if string(restartsAfter) == string(restartsBefore) {
		t.Errorf("h0 was never restarted on 3: its app still runs 2 while current says 3")
	}
	// h0 points at 3 only because the dead run switched it: the fleet
	// goes from 2, as the dead run's record says.
	if rec.Previous != "2" {
		t.Errorf("deploy of 3: got previous %q, want 2", rec.Previous)
	}
}

// newPoolFixture is the app web on hosts, each a directory of its own
// reached as over SSH, behind pool.
func newPoolFixture(t *testing.T, pool deploy.Pool, hosts ...string) *fixture {
	t.Helper()
	return newPoolFixtureWith(t, pool, func(*deploy.Options) {}, hosts...)
}

// newPoolFixtureWith is newPoolFixture whose engine's options opt adjusts
// last.
func newPoolFixtureWith(t *testing.T, pool deploy.Pool, opt func(*deploy.Options), hosts ...string) *fixture {
	t.Helper()
	root := filepath.Join(t.TempDir(), "web")
	var list strings.Builder
	for i, h := range hosts {
		fmt.Fprintf(&list, "          - {name: %s, address: 'h%d:22'}\n", h, i)
	}
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n",
		"        transport: ssh\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n        hosts:\n"+list.String(), 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	m := &hostDirs{configured: root}
	f := newFixtureWith(t, yaml, func(o *deploy.Options) {
		o.Transports["ssh"] = m
		o.Pools = func(*config.App, *config.Env) (deploy.Pool, error) { return pool, nil }
		opt(o)
	})
	m.app = f.app
	return f
}

func sh(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", script, err, out)
	}
}

// TestRedeployFinishesAnInterruptedSingleHost: with one host, deploying
// the interrupted build again restarts it and puts it back in the pool,
// rather than answer "nothing to do" while it is drained.
func TestRedeployFinishesAnInterruptedSingleHost(t *testing.T) {
	f, pool := leftSwitchedAndDrained(t)
	dead := &deploy.Record{ID: "29991231-235959-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: f.deadFence(),
		Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true}}}
	if err := f.store.PutRecord(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.build("2")
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if hr := rec.Host("localhost"); hr.State != deploy.HostActive || pool.get("localhost") != "ready" {
		t.Errorf("localhost %s, pool %s; want active and ready", hr.State, pool.get("localhost"))
	}
	if got := f.link("previous"); got != "releases/1" {
		t.Errorf("previous %q, want releases/1 kept", got)
	}
	if rec.Previous != "1" {
		t.Errorf("deploy of 2: got previous %q, want 1", rec.Previous)
	}
}

// TestDryRunAfterADeadRun: a run still recorded as running, whose process
// died and which no recovery has reported yet (another replica's, within
// its lease's time), is what a deploy takes over first: it marks it
// interrupted and restarts the host it left switched, drained and not
// restarted. The dry run says so, rather than "a deploy would do
// nothing", or that the host was taken out of rotation by someone.
func TestDryRunAfterADeadRun(t *testing.T) {
	f, pool := leftSwitchedAndDrained(t)
	dead := &deploy.Record{ID: "29991231-235959-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: f.deadFence(),
		Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating, Previous: "1", Switching: "2"}}}
	if err := f.store.PutRecord(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	f.build("2")
	plan, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
	if err != nil {
		t.Fatalf("dry run: %v; want a plan restarting localhost", err)
	}
	if got := plan.Hosts[0].Change; !strings.HasPrefix(got, "restart and health-check again on 2") || strings.Contains(got, "stays out of rotation") {
		t.Errorf("dry run: localhost: got %q, want it restarted again and put back", got)
	}
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if hr := rec.Host("localhost"); hr.State != deploy.HostActive || pool.get("localhost") != "ready" {
		t.Errorf("deploy: localhost %s, pool %s; want active and ready, as the dry run said", hr.State, pool.get("localhost"))
	}
}

// leftSwitchedAndDrained is a host in a load balancer's pool that runs 1,
// then switched to 2 by hand and drained, as a run that died after its
// switch leaves it.
func leftSwitchedAndDrained(t *testing.T) (*fixture, *fakePool) {
	t.Helper()
	pool := &fakePool{state: map[string]string{}}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Pools = func(*config.App, *config.Env) (deploy.Pool, error) { return pool, nil }
	})
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	sh(t, "cd "+f.app+" && cp -a releases/1 releases/2 && echo 2 > releases/2/BUILD && ln -sfn releases/2 current && ln -sfn releases/1 previous")
	if err := pool.Drain(context.Background(), deploy.Host{Name: "localhost"}); err != nil {
		t.Fatal(err)
	}
	return f, pool
}
