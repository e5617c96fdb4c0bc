package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestNothingToDoPutsBackALeftOutHost: a host whose drain failed after
// taking it out of rotation, and whose return failed too, was left out by
// its run, on the release it ran. A deploy of that release finds every
// host on it and has nothing to do; it still puts the host back into
// rotation and says so, rather than leave it out until a run switches
// it. One it cannot put back it names, as still out, and one it may not,
// its lease taken by another replica that may have drained the host to
// switch it, it leaves out, as the last run left it, and says why.
func TestNothingToDoPutsBackALeftOutHost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		unready string // the host whose Ready fails at the deploy with nothing to do
		steal   bool   // the lease of the deploy with nothing to do is taken by another replica
		pool    string // h0 in the load balancer afterwards
		say     string
	}{
		{name: "put_back", pool: "ready", say: "h0, left out of rotation by the last run without a switch, put back into rotation"},
		{name: "ready_fails", unready: "h0", pool: "drain", say: "putting h0 back into rotation, where the last run left it out, failed: set server state ready: unreadable answer — it is still out"},
		{name: "lease_lost", steal: true, pool: "drain", say: "h0 not put back into rotation, left out as the last run left it: this replica lost the deploy lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := &halfDrainPool{fakePool: fakePool{state: map[string]string{}}}
			var leases *stealable
			f := newPoolFixtureWith(t, pool, func(o *deploy.Options) {
				leases = &stealable{Leaser: o.Leases}
				o.Leases = leases
			}, "h0", "h1")
			rec := f.deployThreeAfter(func() { pool.set("h0", "h0") })
			if hr := rec.Host("h0"); !hr.LeftOut || hr.Current != "2" {
				t.Fatalf("h0: got left out %v on %q, want left out on 2", hr.LeftOut, hr.Current)
			}
			for _, h := range []string{"h0", "h1"} {
				if cur, _ := os.Readlink(filepath.Join(f.app+"-"+h, "current")); cur != "releases/2" {
					t.Fatalf("%s: current -> %q after the deploy of 3 (%s), want releases/2", h, cur, rec.Outcome)
				}
			}

			pool.set("", tc.unready)
			if tc.steal {
				// Taken from the deploy of 2 as it takes it: the store
				// gives it, and refuses every check and renewal after.
				leases.stolen.Store(true)
			}
			_, err := f.run(deploy.KindDeploy, "2")
			if errs.CodeOf(err) != errs.NoChange {
				t.Fatalf("deploy of 2: got %v, want nothing to do", err)
			}
			if got := pool.get("h0"); got != tc.pool {
				t.Errorf("h0 is %q in the load balancer after the deploy of 2 with nothing to do; want %s", got, tc.pool)
			}
			if !strings.Contains(err.Error(), "nothing to do; "+tc.say) {
				t.Errorf("reply: got %q, want it to say %q", err, tc.say)
			}
		})
	}
}
