package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestLeaseLostBeforeSwitchBack: a deploy whose lease is lost once it has
// decided to switch its hosts back switches none of them back: another
// replica holds the app+env by then, and the hosts are its to change.
func TestLeaseLostBeforeSwitchBack(t *testing.T) {
	f, leases := newStealableFixture(t, fmt.Sprintf(fixtureYAML, "true"))
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
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		leases = &stealable{Leaser: o.Leases}
		tr.leases = leases
		o.Leases = leases
		o.Transports["local"] = tr
		o.LeaseTTL = 300 * time.Millisecond
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
