package deploy_test

import (
	"context"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestDryRunNothingToDoNamesTheHostsPutBack: a deploy of the release every
// host runs, one of them left out of rotation by the last run without a
// switch, has nothing to switch but puts that host back (see
// TestNothingToDoPutsBackALeftOutHost). Its dry run said "a deploy would
// do nothing"; it names the host the deploy puts back, and leaves it out
// itself. Once the host is back, the dry run says nothing is to be done.
func TestDryRunNothingToDoNamesTheHostsPutBack(t *testing.T) {
	pool := &halfDrainPool{fakePool: fakePool{state: map[string]string{}}}
	f := newPoolFixture(t, pool, "h0", "h1")
	rec := f.deployThreeAfter(func() { pool.set("h0", "h0") })
	if hr := rec.Host("h0"); !hr.LeftOut || hr.Current != "2" {
		t.Fatalf("h0: got left out %v on %q, want left out on 2", hr.LeftOut, hr.Current)
	}
	pool.set("", "")

	for _, step := range []struct {
		name string
		want string // the dry run's answer
		pool string // h0 in the load balancer after the dry run
	}{
		{name: "left out", pool: "drain",
			want: "web/prod already runs build 2 on every reachable host; a deploy would do nothing but put h0, left out of rotation by the last run without a switch, back into rotation"},
		{name: "put back", pool: "ready",
			want: "web/prod already runs build 2 on every reachable host; a deploy would do nothing"},
	} {
		p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
		if errs.CodeOf(err) != errs.NoChange || errs.Message(err) != step.want {
			t.Fatalf("%s: dry run: got %+v, %v; want %q", step.name, p, err, step.want)
		}
		if got := pool.get("h0"); got != step.pool {
			t.Fatalf("%s: h0 is %q in the load balancer after the dry run; want %s", step.name, got, step.pool)
		}
		// The deploy does what its dry run said.
		if _, err := f.run(deploy.KindDeploy, "2"); errs.CodeOf(err) != errs.NoChange {
			t.Fatalf("%s: deploy of 2: got %v, want nothing to do", step.name, err)
		}
		if got := pool.get("h0"); got != "ready" {
			t.Fatalf("%s: h0 is %q in the load balancer after the deploy of 2; want ready", step.name, got)
		}
	}
}
