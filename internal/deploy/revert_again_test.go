package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRevertTakesBackAHostRestartedAgain: a deploy that died after
// switching a host to 3 (not restarted) is followed by a deploy of 3,
// which restarts that host where it is (before h1, or would after it) and
// fails on h1, beyond max_failures. The deploy is reverted: every host
// must go back to 2, the release the deploy moved the fleet from, that
// host with the others. Left on 3, it ran a release marked bad while the
// reply said the deploy was switched back. A deploy cancelled before it
// switched any host leaves the host as the dead run left it, and says
// that nothing was switched.
func TestRevertTakesBackAHostRestartedAgain(t *testing.T) {
	for _, tc := range []struct {
		name, stuck string
		cancel      bool
	}{
		{name: "restarted before the failure", stuck: "h0"},
		{name: "not reached before the failure", stuck: "h2"},
		{name: "cancelled before any switch", stuck: "h2", cancel: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := filepath.Join(t.TempDir(), "started")
			f, current := threeHostsConfig(t, 0, "true", func(yaml string) string {
				yaml = failingHealth(yaml)
				if !tc.cancel {
					return yaml
				}
				return strings.Replace(yaml, `run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`,
					"run: 'if [ \"$SWITCHMAN_BUILD\" = 3 ]; then touch "+started+"; sleep 1; fi; for m in $(ls migrations); do grep -qx \"$m\" ../../applied 2>/dev/null || echo \"$m\" >> ../../applied; done'", 1)
			})
			stuck := tc.stuck
			dir := f.app + "-" + stuck
			sh(t, "cp -a "+dir+"/releases/2 "+dir+"/releases/3 && echo 3 > "+dir+"/releases/3/BUILD && cd "+dir+" && ln -sfn releases/3 current && ln -sfn releases/2 previous")
			var hosts []deploy.HostResult
			for _, h := range []string{"h0", "h1", "h2"} {
				if h == stuck {
					hosts = append(hosts, deploy.HostResult{Host: h, State: deploy.HostActivating, Current: "3", Previous: "2", Switched: true})
				} else {
					hosts = append(hosts, deploy.HostResult{Host: h, State: deploy.HostDelivering, Current: "2", Previous: "2"})
				}
			}
			dead := &deploy.Record{ID: "29991231-235959-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "3", Previous: "2",
				Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: f.deadFence(), Hosts: hosts}
			if err := f.store.PutRecord(context.Background(), dead); err != nil {
				t.Fatal(err)
			}
			if _, err := f.engine.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.cancel {
				// A pending migration, whose run the cancel waits for.
				f.build("3", tarEntry{name: "migrations/002_more.sql", body: "x"})
				rec := cancelInMigrationOf(t, f, "3", started)
				if rec.Outcome != deploy.OutcomeCancelled || !strings.Contains(rec.Error, "nothing was switched") || strings.Contains(rec.Error, "switched back") {
					t.Errorf("got %s: %q; want cancelled, nothing was switched", rec.Outcome, rec.Error)
				}
				for h, want := range map[string]string{"h0": "releases/2", "h1": "releases/2", "h2": "releases/3"} {
					if got := current(h); got != want {
						t.Errorf("%s: got current %s, want %s: a cancel before any switch changes no host", h, got, want)
					}
				}
				return
			}
			f.build("3", tarEntry{name: "BROKEN-h1", body: "x"})
			rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeReverted)
			for _, h := range []string{"h0", "h1", "h2"} {
				if got := current(h); got != "releases/2" {
					t.Errorf("%s: got current %s, want releases/2: the deploy was reverted", h, got)
				}
				if hr := rec.Host(h); hr.Current != "2" {
					t.Errorf("%s: record says current %q, want 2", h, hr.Current)
				}
			}
			if _, err := os.Lstat(filepath.Join(dir, "previous")); err == nil {
				if l, _ := os.Readlink(filepath.Join(dir, "previous")); l == "releases/2" {
					t.Errorf("%s: previous names releases/2, the release it runs", stuck)
				}
			}
			if !strings.Contains(rec.Error, "switched back to 2 on") || !strings.Contains(rec.Error, stuck) {
				t.Errorf("reply %q: want it to name %s among the hosts switched back to 2", rec.Error, stuck)
			}
		})
	}
}

// TestFailedHostRestartedAgainGoesBack: within max_failures, a host that
// fails is switched back on its own. One an interrupted deploy of 3 left
// switched to 3, restarted there by the next deploy of 3 and failing,
// goes back to 2, the release it ran before that deploy, as a reverted
// deploy takes it back; it no longer stays on 3, marked bad and failing,
// while the others run 3.
func TestFailedHostRestartedAgainGoesBack(t *testing.T) {
	f, current := threeHostsConfig(t, 1, "true", failingHealth)
	dir := f.app + "-h0"
	sh(t, "cp -a "+dir+"/releases/2 "+dir+"/releases/3 && echo 3 > "+dir+"/releases/3/BUILD && touch "+dir+"/releases/3/BROKEN-h0 && cd "+dir+" && ln -sfn releases/3 current && ln -sfn releases/2 previous")
	dead := &deploy.Record{ID: "29991231-235959-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "3", Previous: "2",
		Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: f.deadFence(),
		Hosts: []deploy.HostResult{
			{Host: "h0", State: deploy.HostActivating, Current: "3", Previous: "2", Switched: true},
			{Host: "h1", State: deploy.HostDelivering, Current: "2", Previous: "2"},
			{Host: "h2", State: deploy.HostDelivering, Current: "2", Previous: "2"},
		}}
	if err := f.store.PutRecord(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.build("3")
	rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	for h, want := range map[string]string{"h0": "releases/2", "h1": "releases/3", "h2": "releases/3"} {
		if got := current(h); got != want {
			t.Errorf("%s: got current %s, want %s", h, got, want)
		}
	}
	if hr := rec.Host("h0"); hr.State != deploy.HostReverted || hr.Current != "2" {
		t.Errorf("h0: got %s on %q (%s), want reverted on 2", hr.State, hr.Current, hr.Error)
	}
}
