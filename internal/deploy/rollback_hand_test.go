package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestNamedRollbackToAReleaseFixedByHand: deploy 3 died after switching
// h0 (one host a batch), and someone put the hosts right by hand. A release a run found on
// every host (recorded unchanged, resolving the interrupted deploy) ran
// there, deploy of its own or not: `rollback to 3` goes back to it once
// the hosts left it. One that no run ever found on every host is still
// refused, saying what the deploy did; one a rollback left (marked bad)
// is refused as bad.
func TestNamedRollbackToAReleaseFixedByHand(t *testing.T) {
	tests := []struct {
		name string
		// fix is what was done by hand after deploy 3 died: "3" (h1
		// and h2 switched on to 3, then `deploy web 3`) or "2" (h0 put
		// back on 2, then `deploy web 2`).
		fix string
		// rolledBack: 3 was left by an unnamed rollback, not by hand.
		rolledBack bool
		refused    []string // "" when the rollback to 3 goes ahead
	}{
		{name: "on every host by hand, recorded unchanged", fix: "3"},
		{name: "on h0 only, put back by hand", fix: "2",
			refused: []string{"release 3 of web/prod never ran on every host there", "switched h0 to it and ended interrupted", "deploy web 3 to prod"}},
		{name: "on every host by hand, then rolled back", fix: "3", rolledBack: true,
			refused: []string{"release 3 of web/prod is marked bad on h0, h1, h2", "deploy web 3 to prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, current := threeHosts(t)
			byHand := func(build string, hosts ...string) { switchByHand(t, f, build, hosts...) }
			diedAfterH0(t, f)

			if tt.fix == "3" {
				byHand("3", "h1", "h2")
			} else {
				byHand("2", "h0")
			}
			_, err := f.run(deploy.KindDeploy, tt.fix)
			if errs.CodeOf(err) != errs.NoChange || !strings.Contains(errs.Message(err), "interrupted, is resolved") {
				t.Fatalf("deploy %s after the fix by hand: got %v, want nothing to do, resolving deploy 3", tt.fix, err)
			}
			if tt.fix == "3" {
				if tt.rolledBack {
					f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
				} else {
					byHand("2", "h0", "h1", "h2") // 3 taken off by hand too
				}
			}
			for _, h := range []string{"h0", "h1", "h2"} {
				if c := current(h); c != "releases/2" {
					t.Fatalf("%s: current %s before the rollback to 3, want releases/2", h, c)
				}
			}

			rec, err := f.run(deploy.KindRollback, "3")
			want := "releases/3"
			if tt.refused != nil {
				want = "releases/2"
				for _, w := range tt.refused {
					if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), w) {
						t.Errorf("rollback to 3: got %v, want refused saying %q", err, w)
					}
				}
			} else if err != nil || rec.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("rollback to 3: got %+v, %v; want it to succeed", rec, err)
			}
			for _, h := range []string{"h0", "h1", "h2"} {
				if c := current(h); c != want {
					t.Errorf("%s: current %s after the rollback to 3, want %s", h, c, want)
				}
			}
		})
	}
}

// TestNamedRollbackForwardOverAnInterruptedSwitch: deploy 3 died after
// switching h0, which still runs 3; h1 and h2 run 2. `rollback to 3`
// would take h1 and h2 forward to a release that never ran on them, past
// the window, the locks and the grant a deploy passes: it is refused as
// when no host runs 3, saying what the deploy did, and nothing changes.
// `rollback to 2`, undoing the deploy, goes ahead.
func TestNamedRollbackForwardOverAnInterruptedSwitch(t *testing.T) {
	f, current := threeHosts(t)
	diedAfterH0(t, f)

	rec, err := f.run(deploy.KindRollback, "3")
	for _, w := range []string{"release 3 of web/prod never ran on every host there", "switched h0 to it and ended interrupted", "deploy web 3 to prod"} {
		if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), w) {
			t.Errorf("rollback to 3: got %v (record %+v), want refused saying %q", err, rec, w)
		}
	}
	for h, want := range map[string]string{"h0": "releases/3", "h1": "releases/2", "h2": "releases/2"} {
		if c := current(h); c != want {
			t.Errorf("%s: current %s after the refused rollback to 3, want %s", h, c, want)
		}
	}

	f.mustRun(deploy.KindRollback, "2", deploy.OutcomeSucceeded)
	for _, h := range []string{"h0", "h1", "h2"} {
		if c := current(h); c != "releases/2" {
			t.Errorf("%s: current %s after the rollback to 2, want releases/2", h, c)
		}
	}
}

// diedAfterH0 runs deploy 3 on f's three hosts and makes it one whose
// process died once h0 had switched and passed, before the next batch:
// its record says so, and h1 and h2 are back on 2.
func diedAfterH0(t *testing.T, f *fixture) {
	t.Helper()
	f.build("3")
	d3 := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	d3.Outcome, d3.Error = deploy.OutcomeInterrupted, "the process running this deploy (gone:1) stopped before it finished; hosts are as observed at recovery"
	d3.Hosts = []deploy.HostResult{
		{Host: "h0", State: deploy.HostActive, Current: "3", Previous: "2", Switched: true},
		{Host: "h1", State: deploy.HostDelivered, Current: "2", Previous: "2"},
		{Host: "h2", State: deploy.HostDelivered, Current: "2", Previous: "2"},
	}
	if err := f.store.PutRecord(context.Background(), d3); err != nil {
		t.Fatal(err)
	}
	switchByHand(t, f, "2", "h1", "h2")
}

// switchByHand points current at build on hosts, as someone would on the
// host: a new link renamed over it.
func switchByHand(t *testing.T, f *fixture, build string, hosts ...string) {
	t.Helper()
	for _, h := range hosts {
		tmp := filepath.Join(f.app+"-"+h, "current.by-hand")
		if err := os.Symlink("releases/"+build, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(f.app+"-"+h, "current")); err != nil {
			t.Fatal(err)
		}
	}
}
