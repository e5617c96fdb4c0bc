package deploy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// halfDrainPool takes a host out of rotation and then fails its drain, as
// HAProxy does when it takes `set server … state drain` and an answer
// after that cannot be read; unready's Ready fails too, leaving it there.
type halfDrainPool struct {
	fakePool
	fail, unready string
}

// Check reports the hosts held in drain too, as HAProxy would.
func (p *halfDrainPool) Check(ctx context.Context, hosts []deploy.Host) (map[string]string, error) {
	out, err := p.fakePool.Check(ctx, hosts)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range hosts {
		if p.state[h.Name] == "drain" {
			out[h.Name] = deploy.PoolDrain
		}
	}
	return out, err
}

func (p *halfDrainPool) Ready(ctx context.Context, h deploy.Host) error {
	p.mu.Lock()
	unready := h.Name == p.unready
	p.mu.Unlock()
	if unready {
		return errors.New("set server state ready: unreadable answer")
	}
	return p.fakePool.Ready(ctx, h)
}

func (p *halfDrainPool) set(fail, unready string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail, p.unready = fail, unready
}

func (p *halfDrainPool) Drain(ctx context.Context, h deploy.Host) error {
	if h.Name != p.fail {
		return p.fakePool.Drain(ctx, h)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[h.Name] = "drain"
	return errors.New("show servers state: unreadable answer")
}

// TestHalfDrainedHostGoesBackIntoRotation: a host whose drain failed is
// neither switched nor restarted (its process serves as before), but the
// drain may have taken it out of rotation before failing: it is put back,
// rather than left out with the deploy saying nothing of it.
func TestHalfDrainedHostGoesBackIntoRotation(t *testing.T) {
	pool := &halfDrainPool{fakePool: fakePool{state: map[string]string{}}}
	f := newPoolFixture(t, pool, "h0", "h1")
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	pool.mu.Lock()
	pool.fail = "h0"
	pool.mu.Unlock()
	f.build("3")
	rec, err := f.run(deploy.KindDeploy, "3")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deploy of 3: %s (%s)", rec.Outcome, rec.Error)
	if rec.Outcome == deploy.OutcomeSucceeded {
		t.Fatalf("deploy of 3 succeeded with h0's drain failing")
	}
	if cur, _ := os.Readlink(filepath.Join(f.app+"-h0", "current")); cur != "releases/2" {
		t.Errorf("h0: current -> %q, want releases/2", cur)
	}
	if hr := rec.Host("h0"); hr.State != deploy.HostFailed || hr.MayHaveSwitched() {
		t.Errorf("h0: got %s (switched %v, switching %q), want failed and not switched", hr.State, hr.Switched, hr.Switching)
	}
	if restarts, _ := os.ReadFile(filepath.Join(f.app+"-h0", "restarts.log")); strings.Contains(string(restarts), "3") {
		t.Errorf("h0 was restarted on 3 (restarts.log %q), want its process left alone", restarts)
	}
	if got := pool.get("h0"); got != "ready" {
		t.Errorf("h0 is left %q in the load balancer after its failed drain; want ready", got)
	}
}

// TestHalfDrainedHostLeftOutIsPutBackNextRun: a host whose drain failed
// after taking it out of rotation, and whose return to rotation failed
// too, was left out by this run, not by someone: the next run puts it
// back, rather than keep it out for good.
func TestHalfDrainedHostLeftOutIsPutBackNextRun(t *testing.T) {
	pool := &halfDrainPool{fakePool: fakePool{state: map[string]string{}}}
	f := newPoolFixture(t, pool, "h0", "h1")
	rec := f.deployThreeAfter(func() { pool.set("h0", "h0") })
	if rec.Outcome == deploy.OutcomeSucceeded {
		t.Fatalf("deploy of 3 succeeded with h0's drain failing")
	}
	if got := pool.get("h0"); got != "drain" {
		t.Fatalf("h0 is %q in the load balancer after its failed drain and ready; want drain", got)
	}
	pool.set("", "")
	f.build("4")
	rec = f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded)
	if got := pool.get("h0"); got != "ready" {
		t.Errorf("h0 is %q in the load balancer after the next deploy; want ready (record: %s)", got, rec.Error)
	}
}
