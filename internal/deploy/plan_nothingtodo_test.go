package deploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

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
