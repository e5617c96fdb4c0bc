package deploy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestDeployRestoresADanglingCurrent: with the release `current` points
// at gone from disk, the app is down, and deploying that build again
// restores it, where it was taken for the current release.
func TestDeployRestoresADanglingCurrent(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if err := os.RemoveAll(filepath.Join(f.app, "releases/2")); err != nil {
		t.Fatal(err)
	}
	p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
	if err != nil || strings.Contains(p.Hosts[0].Change, "already") {
		t.Errorf("plan: %+v, %v; want a delivery and a switch", p, err)
	}
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if b, err := os.ReadFile(filepath.Join(f.app, "current/BUILD")); err != nil || strings.TrimSpace(string(b)) != "2" {
		t.Errorf("current/BUILD: %q, %v; want 2 restored", b, err)
	}
}

// TestPruneKeepsTheNewestOfReproducibleBuilds: archives whose "./" entry
// carries one fixed time (a reproducible build) still prune the oldest
// releases: installing dates a release, not its archive.
func TestPruneKeepsTheNewestOfReproducibleBuilds(t *testing.T) {
	yaml := strings.Replace(fixtureYAML, "shared: [log, config/app.conf]", "shared: [config/app.conf]", 1)
	f := newFixtureFrom(t, fmt.Sprintf(yaml, "true"), &local.Transport{})
	for _, b := range []string{"1", "2", "3", "4", "5", "6"} {
		f.build(b, tarEntry{name: "./", typ: '5'})
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	if got := strings.Join(f.releases(), " "); got != "4 5 6" {
		t.Errorf("releases after deploying 1 to 6 with keep_releases 3: %q, want \"4 5 6\"", got)
	}
}

// TestPlanSaysHowTheDeployRuns: the dry-run plan names the canary, what a
// failure does within max_failures, and the migrate policy, as the deploy
// does them.
func TestPlanSaysHowTheDeployRuns(t *testing.T) {
	root := filepath.Join(t.TempDir(), "web")
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n",
		"        transport: ssh\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n        canary: 1\n        batch_size: 2\n        max_failures: 1\n        migrate: never\n        hosts:\n          - {name: h0, address: 'a:22'}\n          - {name: h1, address: 'b:22'}\n          - {name: h2, address: 'c:22'}\n", 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	m := &hostDirs{configured: root}
	f := newFixtureWith(t, yaml, func(o *deploy.Options) { o.Transports["ssh"] = m })
	m.app = f.app
	f.build("1")
	p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1"})
	if err != nil {
		t.Fatal(err)
	}
	steps := strings.Join(p.Steps, "\n")
	for _, want := range []string{
		"refuse the deploy (migrate: never)",
		"1 canary host(s) first, alone (a failing canary stops the deploy and is switched back), then the others 2 at a time",
		"switched back alone while no more than 1 have failed (the deploy then ends partial)",
	} {
		if !strings.Contains(steps, want) {
			t.Errorf("plan steps:\n%s\nwant %q", steps, want)
		}
	}
	// Hosts that run the build already do not switch: with no more hosts
	// left to switch (h0, whose current is gone) than the canary takes,
	// the deploy has no canary, and neither does its plan. (Its migration counts as applied: the env
	// refuses pending ones.)
	for _, h := range []string{"h0", "h1", "h2"} {
		if err := os.MkdirAll(f.app+"-"+h, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.app+"-"+h, "applied"), []byte("001_users.sql\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if err := os.Remove(filepath.Join(f.app+"-h0", "current")); err != nil {
		t.Fatal(err)
	}
	p, err = f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if steps := strings.Join(p.Steps, "\n"); strings.Contains(steps, "canary") {
		t.Errorf("plan of the build every host but one runs:\n%s\nwant no canary", steps)
	}
}

// TestPlanSaysWhatEachHostNeeds: the dry run fetches only for hosts
// without the release, says a deploy of what runs everywhere would do
// nothing, and shows a host the last run left on the build without a
// passing restart as restarted again, as the deploy does.
func TestPlanSaysWhatEachHostNeeds(t *testing.T) {
	tests := []struct {
		name     string
		build    string
		stuck    bool   // a crashed deploy of 2 left localhost activating on 2
		step     string // in the first step
		host     string // localhost's change
		noChange string // the refusal, if any
	}{
		{name: "new build", build: "3", step: "on 1 host(s), up to", host: "deliver and switch 2 → 3"},
		{name: "release on disk", build: "1", step: "fetch nothing: every reachable host has", host: "switch 2 → 1 (release already on disk)"},
		{name: "running everywhere", build: "2", noChange: "web/prod already runs build 2 on every reachable host; a deploy would do nothing"},
		{name: "left without a passing restart", build: "2", stuck: true, step: "fetch nothing", host: "restart and health-check again on 2 (deploy ID left it switched without a passing restart)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			for _, b := range []string{"1", "2", "3"} {
				f.build(b)
			}
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			if tt.stuck {
				// Recovery's account of deploy 2, had it died restarting.
				recs, err := f.store.Records(context.Background(), deploy.Filter{App: "web", Env: "prod", Limit: 1})
				if err != nil || len(recs) != 1 {
					t.Fatalf("records: %v, %v", recs, err)
				}
				rec := recs[0]
				rec.Outcome, rec.Error = deploy.OutcomeInterrupted, "the process stopped"
				rec.Hosts[0].State = deploy.HostActivating
				if err := f.store.PutRecord(context.Background(), rec); err != nil {
					t.Fatal(err)
				}
				tt.host = strings.Replace(tt.host, "ID", rec.ID, 1)
			}
			p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: tt.build})
			if tt.noChange != "" {
				if errs.CodeOf(err) != errs.NoChange || errs.Message(err) != tt.noChange {
					t.Fatalf("plan: %+v, %v; want %q", p, err, tt.noChange)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(p.Steps[0], tt.step) || p.Hosts[0].Change != tt.host {
				t.Errorf("plan: first step %q, localhost %q; want %q and %q", p.Steps[0], p.Hosts[0].Change, tt.step, tt.host)
			}
		})
	}
}

// TestFailedMigrationsSayWhatRan: migrations that fail part way leave the
// database changed; the deploy's error names what ran and what is still
// pending, from the list run again, rather than only "nothing was
// switched".
func TestFailedMigrationsSayWhatRan(t *testing.T) {
	tests := []struct {
		name string
		fail string // the migration the run command fails at
		want string
	}{
		{name: "the second fails", fail: "003_bad.sql",
			want: "migrations failed on localhost (exit status 1); nothing was switched; ran: 002_email.sql; still pending: 003_bad.sql; check the database"},
		{name: "the first fails", fail: "002_email.sql",
			want: "migrations failed on localhost (exit status 1); nothing was switched; none ran to its end; still pending: 002_email.sql, 003_bad.sql; check the database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := `for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null && continue; [ "$m" = ` + tc.fail + ` ] && exit 1; echo "$m" >> ../../applied; done`
			yaml := fmt.Sprintf(fixtureYAML, "true")
			old := `      run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`
			if !strings.Contains(yaml, old) {
				t.Fatal("the fixture's migrations run command changed; update this test")
			}
			f := newFixtureFrom(t, strings.Replace(yaml, old, "      run: '"+run+"'", 1), &local.Transport{})
			f.build("1")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			f.build("2", tarEntry{name: "migrations/002_email.sql", body: "x"}, tarEntry{name: "migrations/003_bad.sql", body: "y"})
			rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeFailed)
			if !strings.Contains(rec.Error, tc.want) {
				t.Errorf("error: got %q, want it to contain %q", rec.Error, tc.want)
			}
			if f.link("current") != "releases/1" {
				t.Errorf("current: got %q, want releases/1", f.link("current"))
			}
		})
	}
}

// TestPruneCutShortLeavesNoPartialRelease: a host that dies while a prune
// removes a release (here its shell is killed half-way through the rm)
// leaves no incomplete releases/<build> behind. One was taken for the
// release: deploying that build again skipped the download and switched
// to what was left of it, and a rollback to it did the same.
func TestPruneCutShortLeavesNoPartialRelease(t *testing.T) {
	dir := t.TempDir()
	arm := filepath.Join(dir, "arm")
	real, err := exec.LookPath("rm")
	if err != nil {
		t.Fatal(err)
	}
	// An rm that removes a release's BUILD, then kills the script running
	// it, as a host dying mid-removal would stop it.
	wrapper := fmt.Sprintf(`#!/bin/sh
if [ -e %[1]s ]; then
	for a; do
		if [ -f "$a/BUILD" ]; then %[2]s -f %[1]s "$a/BUILD"; kill -9 $PPID; exit 137; fi
	done
fi
exec %[2]s "$@"
`, arm, real)
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "rm"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	f := newFixture(t, "")
	base := time.Now().Add(-3 * time.Hour)
	for i, b := range []string{"1", "2", "3", "4"} {
		f.build(b)
		if b == "4" {
			if err := os.WriteFile(arm, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
		at := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(filepath.Join(f.app, "releases", b), at, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(arm); err == nil {
		t.Fatal("the prune after deploying 4 never removed release 1")
	}
	for _, r := range f.releases() {
		if strings.HasPrefix(r, ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(f.app, "releases", r, "BUILD")); err != nil {
			t.Errorf("releases/%s after a prune cut short: %v; want every release complete", r, err)
		}
	}
	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if got := strings.TrimSpace(f.read("current/BUILD")); got != "1" {
		t.Errorf("deploying 1 again (%s): current/BUILD %q, want 1", rec.Outcome, got)
	}
}
