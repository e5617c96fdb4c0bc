package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// drainHookPool is fakePool calling onDrain as it drains a host.
type drainHookPool struct {
	fakePool
	onDrain func(host string)
}

func (p *drainHookPool) Drain(ctx context.Context, h deploy.Host) error {
	p.onDrain(h.Name)
	return p.fakePool.Drain(ctx, h)
}

// TestDrainComesBeforeTheSwitch: behind a load balancer a host is taken
// out of rotation before its `current` moves, by a deploy and by a
// rollback alike. Switched first, a host served the requests its drain
// waited for from the new release's files (PHP, templates, assets) with
// the old process.
func TestDrainComesBeforeTheSwitch(t *testing.T) {
	// Where each host's `current` points as it is drained, as an app
	// that reads its files as it goes finds it while it still serves
	// the requests the drain waits for.
	var (
		mu   sync.Mutex
		app  string
		seen = map[string][]string{}
	)
	pool := &drainHookPool{fakePool: fakePool{state: map[string]string{}}, onDrain: func(host string) {
		mu.Lock()
		defer mu.Unlock()
		cur, _ := os.Readlink(filepath.Join(app+"-"+host, "current"))
		seen[host] = append(seen[host], cur)
	}}
	f := newPoolFixture(t, pool, "h0", "h1")
	mu.Lock()
	app = f.app
	mu.Unlock()
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.build("2")
	tests := []struct {
		kind    deploy.Kind
		build   string
		drained string // where current points as the host is drained
		after   string
	}{
		{deploy.KindDeploy, "2", "releases/1", "releases/2"},
		{deploy.KindRollback, "", "releases/2", "releases/1"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			mu.Lock()
			clear(seen)
			mu.Unlock()
			rec := f.mustRun(tt.kind, tt.build, deploy.OutcomeSucceeded)
			for _, h := range []string{"h0", "h1"} {
				mu.Lock()
				got := slices.Clone(seen[h])
				mu.Unlock()
				if !slices.Equal(got, []string{tt.drained}) {
					t.Errorf("%s: current pointed at %q as it was drained, want [%s]", h, got, tt.drained)
				}
				if cur, _ := os.Readlink(filepath.Join(f.app+"-"+h, "current")); cur != tt.after {
					t.Errorf("%s: current -> %q after the %s, want %s", h, cur, tt.kind, tt.after)
				}
				if got := pool.get(h); got != "ready" {
					t.Errorf("%s: left %q in the load balancer, want ready", h, got)
				}
				if hr := rec.Host(h); hr.State != deploy.HostActive {
					t.Errorf("%s: got %s (%s), want active", h, hr.State, hr.Error)
				}
			}
		})
	}
}

// TestHostDrainedForAFailedSwitchGoesBack: a host whose switch fails
// before its `current` moves, once drained, still runs what it ran and
// was not restarted: it goes back into rotation rather than stay drained,
// failed, with nothing to switch back.
func TestHostDrainedForAFailedSwitchGoesBack(t *testing.T) {
	var (
		mu  sync.Mutex
		app string
	)
	pool := &drainHookPool{fakePool: fakePool{state: map[string]string{}}, onDrain: func(host string) {
		mu.Lock()
		defer mu.Unlock()
		if host == "h0" && app != "" {
			// The release goes as h0 is drained: its switch finds
			// nothing to point at.
			os.RemoveAll(filepath.Join(app+"-h0", "releases", "2"))
		}
	}}
	f := newPoolFixture(t, pool, "h0", "h1")
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	mu.Lock()
	app = f.app
	mu.Unlock()
	f.build("2")
	rec, err := f.run(deploy.KindDeploy, "2")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deploy of 2: %s (%s)", rec.Outcome, rec.Error)
	if rec.Outcome == deploy.OutcomeSucceeded {
		t.Fatalf("deploy of 2 succeeded with h0's switch failing")
	}
	if cur, _ := os.Readlink(filepath.Join(f.app+"-h0", "current")); cur != "releases/1" {
		t.Errorf("h0: current -> %q, want releases/1", cur)
	}
	if hr := rec.Host("h0"); hr.State != deploy.HostFailed || hr.MayHaveSwitched() {
		t.Errorf("h0: got %s (switched %v, switching %q), want failed and not switched", hr.State, hr.Switched, hr.Switching)
	}
	if restarts, _ := os.ReadFile(filepath.Join(f.app+"-h0", "restarts.log")); strings.Contains(string(restarts), "2") {
		t.Errorf("h0 was restarted on 2 (restarts.log %q), want its process left alone", restarts)
	}
	for _, h := range []string{"h0", "h1"} {
		if got := pool.get(h); got != "ready" {
			t.Errorf("%s: left %q in the load balancer, want ready", h, got)
		}
	}
}
