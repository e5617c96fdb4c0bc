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
// after that cannot be read.
type halfDrainPool struct {
	fakePool
	fail string
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
