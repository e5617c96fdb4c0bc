package deploy_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestReadyAfterTheLeaseWasLost: a host is put back into rotation only
// under the run's lease, whether it passed its switch (forward or back)
// or its switch did not happen (its drain failed after taking it out). A
// run whose lease another replica took meanwhile leaves the host out of
// rotation (the replica holding the app+env now may have drained it to
// switch it), says so naming it, and ends interrupted, as any run that
// lost its lease does.
func TestReadyAfterTheLeaseWasLost(t *testing.T) {
	for _, tt := range []struct {
		name string
		// arm sets the pool's failures for the deploy of 3.
		arm func(p *backDrainPool)
		// steal tells the event at which another replica takes the lease.
		steal func(ev deploy.Event) bool
		want  string // h0's state in the load balancer after the deploy
	}{
		{
			name:  "after its switch",
			arm:   func(*backDrainPool) {},
			steal: func(ev deploy.Event) bool { return ev.Host == "h0" && ev.Step == deploy.StepReady && !ev.Done },
			want:  "maint",
		},
		{
			name: "after its drain failed",
			arm:  func(p *backDrainPool) { p.arm("", ""); p.failFirst = "h0" },
			steal: func(ev deploy.Event) bool {
				return ev.Host == "h0" && ev.Step == deploy.StepDrain && ev.Done && ev.Err != ""
			},
			want: "drain",
		},
		{
			name: "after its switch back",
			arm:  func(p *backDrainPool) { p.arm("", "h1") },
			steal: func(ev deploy.Event) bool {
				return ev.Host == "h0" && ev.Back && ev.Step == deploy.StepReady && !ev.Done
			},
			want: "maint",
		},
		{
			name: "after its switch back's drain failed",
			arm:  func(p *backDrainPool) { p.arm("h0", "h1") },
			steal: func(ev deploy.Event) bool {
				return ev.Host == "h0" && ev.Back && ev.Step == deploy.StepDrain && ev.Done && ev.Err != ""
			},
			want: "drain",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := &backDrainPool{fakePool: fakePool{state: map[string]string{}}}
			var leases *stealable
			f := newPoolFixtureWith(t, pool, func(o *deploy.Options) {
				leases = &stealable{Leaser: o.Leases}
				o.Leases = leases
				// Taken by hand (stolen): a TTL a loaded machine's
				// renewals cannot miss keeps it from running out first.
				o.LeaseTTL = 10 * time.Second
			}, "h0", "h1")
			for _, b := range []string{"1", "2"} {
				f.build(b)
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			tt.arm(pool)
			f.build("3")
			f.watch = func(ev deploy.Event) {
				if ev.Kind == deploy.EventStep && tt.steal(ev) {
					leases.stolen.Store(true)
				}
			}
			rec, err := f.run(deploy.KindDeploy, "3")
			if err != nil {
				t.Fatal(err)
			}
			notes := f.noteTexts()
			if !leases.stolen.Load() {
				t.Fatal("the lease was never taken over: h0 never reached the step")
			}
			if got := pool.get("h0"); got != tt.want {
				t.Errorf("h0 is %q in the load balancer after the deploy that lost its lease; want %q, as it was", got, tt.want)
			}
			if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
				t.Errorf("deploy of 3: got %s (%s), want interrupted by the lost lease", rec.Outcome, rec.Error)
			}
			const said = "h0 not put back into rotation, left out: this replica lost the deploy lease"
			if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, said) }) {
				t.Errorf("notes: got %q, want one starting %q", notes, said)
			}
		})
	}
}
