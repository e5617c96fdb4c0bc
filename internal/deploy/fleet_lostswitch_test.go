package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// dieAfterSwitch is an mv put before the host's own (the PATH its sshd
// gives logins starts with /srv/bin). Once /srv/die-after-switch exists,
// the mv that swaps `current` does so, tells the test (/srv/switched) and
// hangs until the test kills the host: a host that dies after its switch
// and before it reports it.
const dieAfterSwitch = `#!/bin/sh
/bin/mv "$@" || exit
case "$2" in .current-*) ;; *) exit 0 ;; esac
[ -e /srv/die-after-switch ] || exit 0
rm -f /srv/die-after-switch
: >/srv/switched
exec sleep 600
`

// TestFleetHostLostAfterItsSwitch: host1 dies after its `current` is
// swapped and before the bot hears of it, so the bot cannot read where
// `current` points. The run records it as possibly switched: it names
// host1 among the hosts it could not switch back, and once host1 is back,
// the next run finishes its switch (restarts and checks it) where it
// points, as after any run that left a host switched without a passing
// restart. Recorded as never switched, host1 was left out of the
// reverted deploy's message, a later rollback found nothing to do or went
// one release further back, and deploying the build again took host1 for
// running it already and never restarted it.
func TestFleetHostLostAfterItsSwitch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fresh hosts have no release yet: the run is their first.
		fresh bool
		env   []string    // extra lines of the env
		first deploy.Kind // the run host1 dies in
		build string      // its build: "" for a rollback
		ended deploy.Outcome
		said  string      // in its error
		later deploy.Kind // the run after host1 is back
		again string      // its build
		on    string      // the release host1 is restarted on
	}{
		{name: "a rollback, then a rollback", first: deploy.KindRollback, ended: deploy.OutcomeFailed,
			said: "rollback to 1 failed on host1", later: deploy.KindRollback, on: "1"},
		{name: "a deploy, then the deploy again", first: deploy.KindDeploy, build: "2", ended: deploy.OutcomeReverted,
			said: "could NOT switch back host1", later: deploy.KindDeploy, again: "2", on: "2"},
		// Nothing to switch back to, and where it points unknown: host1
		// may be on the build or have no release at all, not "left on" it.
		{name: "a first deploy, then the deploy again", fresh: true, first: deploy.KindDeploy, build: "1", ended: deploy.OutcomeReverted,
			said:  "no earlier release to switch back to on host0, left on 1, nor on host1, lost during its switch: it may be on 1 or have no release yet — deploy a fixed build",
			later: deploy.KindDeploy, again: "1", on: "1"},
		{name: "a first deploy within max_failures, then the deploy again", fresh: true, env: []string{"max_failures: 1"},
			first: deploy.KindDeploy, build: "1", ended: deploy.OutcomePartial,
			said:  "no earlier release to switch back to on host1, lost during its switch: it may be on 1 or have no release yet — deploy a fixed build",
			later: deploy.KindDeploy, again: "1", on: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet := sshd.StartFleet(t, 2, sshd.Options{Config: []string{"SetEnv HOME=/srv/home PATH=/srv/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"}})
			f := newFleetFixture(t, fleet, fleetSpec{restart: `echo "$SWITCHMAN_BUILD" >> /srv/restarts`, env: tt.env}, nil)
			f.build("1")
			f.build("2")
			if !tt.fresh {
				f.seed("1")
			}
			if tt.first == deploy.KindRollback {
				f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			}
			host1 := fleet.Hosts[1].Root
			if err := os.MkdirAll(filepath.Join(host1, "bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			for name, body := range map[string]string{"bin/mv": dieAfterSwitch, "die-after-switch": ""} {
				if err := os.WriteFile(filepath.Join(host1, name), []byte(body), 0o755); err != nil {
					t.Fatal(err)
				}
			}

			_, done, err := f.start(tt.first, tt.build)
			if err != nil {
				t.Fatal(err)
			}
			waitFile(t, filepath.Join(host1, "switched"))
			fleet.Kill(1)
			rec := f.wait(done)
			if rec.Outcome != tt.ended || !strings.Contains(rec.Error, tt.said) || strings.Contains(rec.Error, "host1, left on") {
				t.Errorf("%s: got %s (%s), want %s saying %q", tt.first, rec.Outcome, rec.Error, tt.ended, tt.said)
			}
			if h := hostResult(t, rec, "host1"); h.State != deploy.HostFailed || !strings.Contains(h.Error, "could not read current") {
				t.Errorf("host1: got %+v, want failed, its current unread", h)
			}
			if got := f.link(1, "current"); got != "releases/"+tt.on {
				t.Fatalf("host1 died with current -> %q, want releases/%s", got, tt.on)
			}

			fleet.Start(1)
			if err := os.Remove(filepath.Join(host1, "restarts")); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			rec = f.mustRun(tt.later, tt.again, deploy.OutcomeSucceeded)
			checkHost(t, rec, "host1", deploy.HostActive, tt.on)
			if got, _ := os.ReadFile(filepath.Join(host1, "restarts")); string(got) != tt.on+"\n" {
				t.Errorf("host1's restarts after the %s: got %q, want %q", tt.later, got, tt.on+"\n")
			}
			for i := range fleet.Hosts {
				if got := f.link(i, "current"); got != "releases/"+tt.on {
					t.Errorf("%s: current -> %q, want releases/%s", fleet.Hosts[i].Name, got, tt.on)
				}
			}
		})
	}
}
