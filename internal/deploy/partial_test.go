package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// failBroken, run last in a restart, fails a host whose release has a
// BROKEN-host file there and then, rather than at a health check that
// runs out: no host of the tests using it needs the health timeout to
// pass, which longHealth makes long, so that a healthy host's check on a
// loaded machine passes in time.
const failBroken = `test ! -e current/BROKEN-$SWITCHMAN_HOST`

// longHealth gives the fixture's health check a timeout no healthy host
// comes near, however loaded the machine.
func longHealth(yaml string) string {
	return strings.Replace(yaml, healthyWithin, "timeout: 1m", 1)
}

// TestPartialDeploySaysWhatItCouldNotSwitchBack: a host that fails within
// max_failures is switched back on its own; when that switch back fails
// too, the host is left on the earlier release without a passing restart,
// and a host that failed on its first release has nothing to go back to.
// The partial deploy's record must say so, as a reverted deploy's does,
// not only that the others run the build.
func TestPartialDeploySaysWhatItCouldNotSwitchBack(t *testing.T) {
	for _, tt := range []struct {
		name string
		// prepare readies host h1's directory, dir, before build 3,
		// which fails h1's health check, is deployed.
		prepare     func(t *testing.T, dir string)
		wantCurrent string // h1's `current` after the deploy
		want        string // in the record's error
		// offers are the builds of the rollbacks the record's error
		// offers, each marked, whole, and going to it.
		offers []string
	}{
		{
			name: "its switch back failed",
			prepare: func(t *testing.T, dir string) {
				// h1 fails on 2 as well, once switched back.
				if err := os.WriteFile(filepath.Join(dir, "releases/2/BROKEN-h1"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantCurrent: "releases/2",
			want:        "could NOT switch back h1 — check it and " + suggest.Command("rollback web prod to 2"),
			offers:      []string{"2"},
		},
		{
			name: "its first release",
			prepare: func(t *testing.T, dir string) {
				// h1 joins the fleet with nothing on it.
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			},
			wantCurrent: "releases/3",
			want:        "no earlier release to switch back to on h1, left on 3 — deploy a fixed build",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, current := threeHostsConfig(t, 1, failBroken, longHealth)
			tt.prepare(t, f.app+"-h1")
			f.build("3", tarEntry{name: "BROKEN-h1", body: "x"})
			rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
			if hr := rec.Host("h1"); hr.State != deploy.HostFailed || current("h1") != tt.wantCurrent {
				t.Fatalf("h1: got %s (current %s), want failed, current %s", hr.State, current("h1"), tt.wantCurrent)
			}
			for _, want := range []string{"1 of 3 hosts failed", tt.want} {
				if !strings.Contains(rec.Error, want) {
					t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
				}
			}
			wantOffers(t, f, rec.Error, tt.offers...)
		})
	}
}

// TestEveryHostFailingWithinMaxFailures: with max_failures as large as the
// fleet, every host may fail on its own. A deploy that leaves no host on
// its build is not partial ("the others run 3"): it is reverted when the
// hosts switched and were switched back, failed when none got as far as
// switching, and its record says so.
func TestEveryHostFailingWithinMaxFailures(t *testing.T) {
	hosts := []string{"h0", "h1", "h2"}
	for _, tt := range []struct {
		name string
		// prepare breaks each host's deploy of build 3 in the host's
		// directory, dir.
		prepare func(t *testing.T, dir string)
		extra   []tarEntry // in build 3
		outcome deploy.Outcome
		state   deploy.HostState
		want    []string // in the record's error
	}{
		{
			name:    "after the switch",
			extra:   []tarEntry{{name: "BROKEN-h0", body: "x"}, {name: "BROKEN-h1", body: "x"}, {name: "BROKEN-h2", body: "x"}},
			outcome: deploy.OutcomeReverted,
			state:   deploy.HostReverted,
			want:    []string{"every host failed", "release 3 marked bad", "switched back to 2 on h0, h1, h2"},
		},
		{
			name: "delivery",
			prepare: func(t *testing.T, dir string) {
				// The unpack makes shared/ with mkdir -p, which a file
				// of that name fails.
				if err := os.RemoveAll(filepath.Join(dir, "shared")); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "shared"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			outcome: deploy.OutcomeFailed,
			state:   deploy.HostFailed,
			want:    []string{"every host failed", "nothing was switched"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Without migrations, which need a host left to list them on.
			f, current := threeHostsConfig(t, 3, failBroken, func(yaml string) string {
				start, end := strings.Index(yaml, "    migrations:\n"), strings.Index(yaml, "    health:\n")
				return longHealth(yaml[:start] + yaml[end:])
			})
			if tt.prepare != nil {
				for _, h := range hosts {
					tt.prepare(t, f.app+"-"+h)
				}
			}
			f.build("3", tt.extra...)
			rec := f.mustRun(deploy.KindDeploy, "3", tt.outcome)
			t.Logf("deploy 3: %s: %s", rec.Outcome, rec.Error)
			for _, want := range tt.want {
				if !strings.Contains(rec.Error, want) {
					t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
				}
			}
			for _, h := range hosts {
				if hr := rec.Host(h); hr.State != tt.state || current(h) != "releases/2" {
					t.Errorf("%s: got %s (current %s), want %s on releases/2", h, hr.State, current(h), tt.state)
				}
			}
		})
	}
}

// TestRevertNamesEachHostOnce: a host switched back on its own within
// max_failures whose switch back failed at the switch (its earlier
// release gone) is tried again when the deploy then reverts. The
// reverted deploy's message names it once: among the hosts it could not
// switch back when the second try fails too, among those switched back
// when it passes.
func TestRevertNamesEachHostOnce(t *testing.T) {
	// h1's restart on 3 moves its release 2 away, so that its switch
	// back fails before it switches; h2's puts it back, when build 3
	// says so, before the deploy reverts.
	const restart = `if [ -e current/DROP-$SWITCHMAN_HOST ]; then mv releases/2 releases/away-2; fi; if [ -e current/RESTORE-$SWITCHMAN_HOST ] && [ -e ../web-h1/releases/away-2 ]; then mv ../web-h1/releases/away-2 ../web-h1/releases/2; fi; ` + failBroken
	for _, tt := range []struct {
		name    string
		extra   []tarEntry
		h1      deploy.HostState
		want    []string
		notWant string
		offers  []string // as in TestPartialDeploySaysWhatItCouldNotSwitchBack
	}{
		{
			name:    "second try fails",
			h1:      deploy.HostFailed,
			want:    []string{"switched back to 2 on h0, h2", "could NOT switch back h1 — check it and " + suggest.Command("rollback web prod to 2")},
			notWant: "h1, h1",
			offers:  []string{"2"},
		},
		{
			name:    "second try passes",
			extra:   []tarEntry{{name: "RESTORE-h2", body: "x"}},
			h1:      deploy.HostReverted,
			want:    []string{"switched back to 2 on h0, h1, h2"},
			notWant: "could NOT switch back",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, current := threeHostsConfig(t, 1, restart, longHealth)
			entries := append([]tarEntry{{name: "BROKEN-h1", body: "x"}, {name: "DROP-h1", body: "x"}, {name: "BROKEN-h2", body: "x"}}, tt.extra...)
			f.build("3", entries...)
			rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeReverted)
			t.Logf("deploy 3: %s", rec.Error)
			for _, want := range tt.want {
				if !strings.Contains(rec.Error, want) {
					t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
				}
			}
			if strings.Contains(rec.Error, tt.notWant) {
				t.Errorf("record error: got %q, want nothing saying %q", rec.Error, tt.notWant)
			}
			wantOffers(t, f, rec.Error, tt.offers...)
			if hr := rec.Host("h1"); hr.State != tt.h1 {
				t.Errorf("h1: got %s (current %s), want %s", hr.State, current("h1"), tt.h1)
			}
		})
	}
}

// TestFailedSwitchThatDidNotMoveIsNotSwitchedBack: a host whose switch
// fails before its `current` moves (read back from the host) still runs
// what it ran, and within max_failures it is left so: switching it "back"
// restarted a healthy host for nothing and recorded it reverted, a host
// switched and switched back, which it never was. A reverting deploy
// already judges a host by where its `current` points.
func TestFailedSwitchThatDidNotMoveIsNotSwitchedBack(t *testing.T) {
	// h0's restart on 3 takes release 3 away from h1, whose switch, next,
	// then fails before it moves `current`.
	const restart = `if [ "$SWITCHMAN_HOST" = h0 ] && [ "$SWITCHMAN_BUILD" = 3 ]; then rm -rf ../web-h1/releases/3; fi`
	f, current := threeHostsConfig(t, 1, restart, longHealth)
	restarts := filepath.Join(f.app+"-h1", "restarts.log")
	before, err := os.ReadFile(restarts)
	if err != nil {
		t.Fatal(err)
	}
	f.build("3")
	rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	hr := rec.Host("h1")
	if hr.State != deploy.HostFailed || hr.Current != "2" || current("h1") != "releases/2" {
		t.Errorf("h1: got %s on %s (current -> %s), want failed on 2, as it was", hr.State, hr.Current, current("h1"))
	}
	if after, _ := os.ReadFile(restarts); string(after) != string(before) {
		t.Errorf("h1's restarts: got %q after the deploy, want %q: its switch never moved it", after, before)
	}
	for _, h := range []string{"h0", "h2"} {
		if got := current(h); got != "releases/3" {
			t.Errorf("%s: current -> %s, want releases/3", h, got)
		}
	}
	if want := "1 of 3 hosts failed"; !strings.Contains(rec.Error, want) {
		t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
	}
}
