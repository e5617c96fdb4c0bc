package deploy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// backDrainPool fails, once armed, the second drain of failDrain (its
// switch back's) after taking it out of rotation, as HAProxy does when it
// takes `set server … state drain` and the answer after that cannot be
// read; and the first ready of unready, failing that host's activation
// after its switch so that the deploy is switched back. failFirst, set
// once armed, fails that host's first drain alike (its switch's).
type backDrainPool struct {
	fakePool
	armed                         bool
	failDrain, unready, failFirst string
	drains                        map[string]int
	readied                       bool
}

func (p *backDrainPool) arm(failDrain, unready string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.failDrain, p.unready, p.drains = true, failDrain, unready, map[string]int{}
}

func (p *backDrainPool) Drain(ctx context.Context, h deploy.Host) error {
	p.mu.Lock()
	if p.armed {
		p.drains[h.Name]++
		if h.Name == p.failDrain && p.drains[h.Name] == 2 || h.Name == p.failFirst && p.drains[h.Name] == 1 {
			p.state[h.Name] = "drain"
			p.mu.Unlock()
			return errors.New("show stat: unreadable answer")
		}
	}
	p.mu.Unlock()
	return p.fakePool.Drain(ctx, h)
}

func (p *backDrainPool) Ready(ctx context.Context, h deploy.Host) error {
	p.mu.Lock()
	if p.armed && h.Name == p.unready && !p.readied {
		p.readied = true
		p.mu.Unlock()
		return errors.New("set ready but is not up after 10s (status DOWN)")
	}
	p.mu.Unlock()
	return p.fakePool.Ready(ctx, h)
}

// TestSwitchBackDrainFailedLeavesHostAsItWas: a deploy switched back (h1
// failed after its switch) drains each host again before its switch back.
// A host that was serving the build, whose drain then failed after taking
// it out of rotation, is not switched back and still serves: it goes back
// into rotation, as after a failed drain on the way forward, rather than
// stay out with nothing saying so. A host that had failed its own check
// was out of rotation before its switch back, and stays out.
func TestSwitchBackDrainFailedLeavesHostAsItWas(t *testing.T) {
	for _, tt := range []struct {
		name      string
		failDrain string
		want      string // its state in the load balancer after the deploy
	}{
		{"host serving the build goes back into rotation", "h0", "ready"},
		{"host that failed its own check stays out", "h1", "drain"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := &backDrainPool{fakePool: fakePool{state: map[string]string{}}}
			f := newPoolFixture(t, pool, "h0", "h1")
			for _, b := range []string{"1", "2"} {
				f.build(b)
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			pool.arm(tt.failDrain, "h1")
			f.build("3")
			rec, err := f.run(deploy.KindDeploy, "3")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Outcome == deploy.OutcomeSucceeded {
				t.Fatalf("deploy of 3 succeeded with h1 failing to come up")
			}
			if cur, _ := os.Readlink(filepath.Join(f.app+"-"+tt.failDrain, "current")); cur != "releases/3" {
				t.Errorf("%s: current -> %q, want releases/3 (its switch back's drain failed)", tt.failDrain, cur)
			}
			if hr := rec.Host(tt.failDrain); hr.State != deploy.HostFailed {
				t.Errorf("%s: got %s, want failed (%s)", tt.failDrain, hr.State, hr.Error)
			}
			if got := pool.get(tt.failDrain); got != tt.want {
				t.Errorf("%s is %q in the load balancer after its switch back's drain failed; want %q (record: %s)", tt.failDrain, got, tt.want, rec.Error)
			}
		})
	}
}
