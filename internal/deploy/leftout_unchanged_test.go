package deploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestLeftOutHostOnTheTargetIsPutBack: a host whose drain failed after
// taking it out of rotation, and whose return failed too, was left out by
// its run, on the release it ran. A rollback to that release has nothing
// to switch there, nor has a deploy of it; each still puts the host back
// into rotation, as the next run does with a host its last run left out,
// rather than leave it out for good behind a run that says it succeeded.
func TestLeftOutHostOnTheTargetIsPutBack(t *testing.T) {
	for _, kind := range []deploy.Kind{deploy.KindRollback, deploy.KindDeploy} {
		t.Run(string(kind), func(t *testing.T) { leftOutHostOnTheTarget(t, kind) })
	}
}

func leftOutHostOnTheTarget(t *testing.T, kind deploy.Kind) {
	pool := &halfDrainPool{fakePool: fakePool{state: map[string]string{}}}
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
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	pool.set("h0", "h0")
	f.build("3")
	rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	if hr := rec.Host("h0"); !hr.LeftOut || hr.Current != "2" {
		t.Fatalf("h0: got left out %v on %q, want left out on 2", hr.LeftOut, hr.Current)
	}
	pool.set("", "")
	if kind == deploy.KindDeploy {
		plan, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
		if err != nil {
			t.Fatal(err)
		}
		for _, hp := range plan.Hosts {
			if want := "left there by the last run, which did not switch it: put back"; hp.Host == "h0" && !strings.Contains(hp.Change, want) {
				t.Errorf("dry run: h0 %q, want it to say %q", hp.Change, want)
			}
		}
	}
	rec = f.mustRun(kind, "2", deploy.OutcomeSucceeded)
	if got := pool.get("h0"); got != "ready" {
		t.Errorf("h0 is %q in the load balancer after the %s of 2; want ready (h0: %s)", got, kind, rec.Host("h0").State)
	}
}
