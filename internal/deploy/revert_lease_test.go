package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestLeaseLostBeforeSwitchBack: a deploy whose lease is lost once it has
// decided to switch its hosts back switches none of them back: another
// replica holds the app+env by then, and the hosts are its to change.
func TestLeaseLostBeforeSwitchBack(t *testing.T) {
	f, leases := newStealableFixtureTTL(t, failingHealth(fmt.Sprintf(fixtureYAML, "true")), stealTTL)
	f.build("1")
	f.build("2", tarEntry{name: "BROKEN", body: "x"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

	done := make(chan *deploy.Record, 1)
	_, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventNote && strings.HasPrefix(ev.Text, "switching back") {
			leases.stolen.Store(true) // another replica holds web/prod now
		}
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := <-done
	wantLeftToLeaseHolder(t, f, rec)
}

// stealOnScript is a transport on whose hosts another replica takes the
// lease over as soon as a script equal to script has run.
type stealOnScript struct {
	deploy.Transport
	leases *stealable
	script string
}

func (s *stealOnScript) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	sess, err := s.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return &stealOnScriptSession{Session: sess, s: s}, nil
}

type stealOnScriptSession struct {
	deploy.Session
	s *stealOnScript
}

func (ss *stealOnScriptSession) Run(ctx context.Context, c deploy.Command) ([]byte, error) {
	out, err := ss.Session.Run(ctx, c)
	if c.Script == ss.s.script {
		ss.s.leases.stolen.Store(true)
	}
	return out, err
}

// TestLeaseLostWhileMarkingBadBeforeSwitchBack: a lease taken by another
// replica while a failed deploy marks its build bad on a host, after the
// check before that host, stops the switch back of that host: the
// replica holding the app+env now decides what becomes of it. The deploy
// ends interrupted, the host left on the build.
func TestLeaseLostWhileMarkingBadBeforeSwitchBack(t *testing.T) {
	tr := &stealOnScript{Transport: &local.Transport{}}
	var leases *stealable
	f := newFixtureWith(t, failingHealth(fmt.Sprintf(fixtureYAML, "true")), func(o *deploy.Options) {
		leases = &stealable{Leaser: o.Leases}
		tr.leases = leases
		o.Leases = leases
		o.Transports["local"] = tr
		o.LeaseTTL = stealTTL
	})
	tr.script = deploy.MarkBadScript(f.cfg.Apps["web"].Path, "2")
	f.build("1")
	f.build("2", tarEntry{name: "BROKEN", body: "x"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

	rec, err := f.run(deploy.KindDeploy, "2")
	if err != nil {
		t.Fatal(err)
	}
	if !leases.stolen.Load() {
		t.Fatal("the lease was never taken over: build 2 was not marked bad")
	}
	wantLeftToLeaseHolder(t, f, rec)
}

// TestLeaseLostWhileMarkingBadBeforeOneHostsSwitchBack: a host failing
// within max_failures is switched back alone, once its build is marked
// bad there; a lease taken by another replica while it is marked stops
// that switch back too. The host is left on the build, failed, and the
// deploy ends interrupted.
func TestLeaseLostWhileMarkingBadBeforeOneHostsSwitchBack(t *testing.T) {
	root := filepath.Join(t.TempDir(), "web")
	yaml := strings.Replace(failingHealth(fmt.Sprintf(fixtureYAML, "true")), "        hosts: [localhost]\n",
		"        transport: ssh\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n        max_failures: 1\n        hosts:\n          - {name: h0, address: 'a:22'}\n          - {name: h1, address: 'b:22'}\n          - {name: h2, address: 'c:22'}\n", 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	yaml = strings.Replace(yaml, "test ! -e current/BROKEN'", "test ! -e current/BROKEN-{host}'", 1)
	m := &hostDirs{configured: root}
	tr := &stealOnScript{Transport: m, script: deploy.MarkBadScript(root, "3")}
	var leases *stealable
	f := newFixtureWith(t, yaml, func(o *deploy.Options) {
		leases = &stealable{Leaser: o.Leases}
		tr.leases = leases
		o.Leases = leases
		o.Transports["ssh"] = tr
		o.LeaseTTL = stealTTL
	})
	m.app = f.app
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	f.build("3", tarEntry{name: "BROKEN-h0", body: "x"})
	rec, err := f.run(deploy.KindDeploy, "3")
	if err != nil {
		t.Fatal(err)
	}
	if !leases.stolen.Load() {
		t.Fatal("the lease was never taken over: build 3 was not marked bad")
	}
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("deploy: got %s (%s), want interrupted by the lost lease", rec.Outcome, rec.Error)
	}
	if cur, _ := os.Readlink(filepath.Join(f.app+"-h0", "current")); cur != "releases/3" {
		t.Errorf("h0: current -> %q, want releases/3, left as it was for the replica holding the lease", cur)
	}
	if hr := rec.Host("h0"); hr.State != deploy.HostFailed {
		t.Errorf("h0: got %s, want failed", hr.State)
	}
}
