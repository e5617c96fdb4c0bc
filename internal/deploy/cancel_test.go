package deploy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestCancelLetsAMigrationFinish: a cancel that arrives while the
// migrations run lets them finish, then stops the deploy before any host
// switches, as cancelled.
func TestCancelLetsAMigrationFinish(t *testing.T) {
	dir := t.TempDir()
	started, finished := filepath.Join(dir, "started"), filepath.Join(dir, "finished")
	yaml := strings.Replace(fixtureYAML, `run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`,
		"run: 'touch "+started+"; sleep 1; touch "+finished+"'", 1)
	f := newFixtureFrom(t, fmt.Sprintf(yaml, "true"), &local.Transport{})
	f.build("1")
	rec := cancelInMigration(t, f, started)
	if _, err := os.Stat(finished); err != nil {
		t.Errorf("the migration was cut short by the cancel")
	}
	if rec.Outcome != deploy.OutcomeCancelled || f.link("current") != "" {
		t.Errorf("outcome %s (%s), current %q; want cancelled before switching", rec.Outcome, rec.Error, f.link("current"))
	}
}

// TestCancelDuringTheHealthGate: a cancel that arrives while the hosts
// switched so far are checked again before the next batch stops that
// batch from switching.
func TestCancelDuringTheHealthGate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "web")
	slow := filepath.Join(t.TempDir(), "slow")
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n",
		"        transport: ssh\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n        hosts:\n          - {name: h0, address: 'a:22'}\n          - {name: h1, address: 'b:22'}\n", 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	yaml = strings.Replace(yaml, "command: 'test", "command: '{ test ! -e "+slow+" || sleep 1; } && test", 1)
	m := &hostDirs{configured: root}
	f := newFixtureWith(t, yaml, func(o *deploy.Options) { o.Transports["ssh"] = m })
	m.app = f.app
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if err := os.WriteFile(slow, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan *deploy.Record, 1)
	healthy := make(chan struct{}, 1)
	if _, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventStep && ev.Host == "h0" && ev.Step == deploy.StepHealth && ev.Done && ev.Err == "" {
			select {
			case healthy <- struct{}{}:
			default:
			}
		}
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}); err != nil {
		t.Fatal(err)
	}
	<-healthy
	time.Sleep(400 * time.Millisecond) // in the gate's second check of h0, which takes 1 s
	if _, err := f.engine.Cancel("web", "prod", "bob"); err != nil {
		t.Fatal(err)
	}
	rec := <-done
	if b, _ := os.ReadFile(filepath.Join(f.app+"-h1", "restarts.log")); strings.Contains(string(b), "2") {
		t.Errorf("h1 restarted on 2 after the cancel (restarts %q)", b)
	}
	if rec.Outcome != deploy.OutcomeCancelled || !strings.Contains(rec.Error, "cancelled by bob") {
		t.Errorf("outcome %s: %s; want cancelled, saying by whom", rec.Outcome, rec.Error)
	}
}

// TestRollbackIsNotCancelled: a cancel of a running rollback is refused,
// saying why, and the rollback restores every host and locks the app+env.
func TestRollbackIsNotCancelled(t *testing.T) {
	f, current := threeHosts(t)
	f.build("3")
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	done := make(chan *deploy.Record, 1)
	var cancelErr error
	asked := false
	if _, err := f.engine.Rollback(context.Background(), deploy.Request{App: "web", Env: "prod", Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventStep && !asked {
			asked = true // the rollback runs: its first step is under way
			_, cancelErr = f.engine.Cancel("web", "prod", "bob")
		}
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}); err != nil {
		t.Fatal(err)
	}
	rec := <-done
	if cancelErr == nil || !strings.Contains(cancelErr.Error(), "a rollback is not cancelled") {
		t.Errorf("cancel of a rollback: %v, want it refused", cancelErr)
	}
	if rec.Outcome != deploy.OutcomeSucceeded {
		t.Errorf("rollback: %s (%s)", rec.Outcome, rec.Error)
	}
	for _, h := range []string{"h0", "h1", "h2"} {
		if c := current(h); c != "releases/2" {
			t.Errorf("%s: current %s, want releases/2", h, c)
		}
	}
	if locks, err := f.store.Locks(context.Background()); err != nil || len(locks) != 1 {
		t.Errorf("locks: %v, %v; want the rollback's", locks, err)
	}
}

// TestCancelOfAFirstDeploy: a first deploy cancelled after its host
// switched has nothing to switch back to; it ends cancelled, says so once,
// and leaves the build unmarked, since nobody found it faulty. Where the
// outcome is said, in the log as in chat, it says where the build stays:
// "cancelled" alone reads as nothing changed.
func TestCancelOfAFirstDeploy(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	var log syncbuf.Buffer
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "while [ ! -e "+gate+" ]; do sleep 0.05; done"), func(o *deploy.Options) {
		o.Log = slog.New(slog.NewTextHandler(&log, nil))
	})
	f.build("1")
	done := f.deployUntilRestart("1")
	if _, err := f.engine.Cancel("web", "prod", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := <-done
	if want := "cancelled by bob; localhost stays on 1, its first release: there is nothing to switch back to"; rec.Outcome != deploy.OutcomeCancelled || rec.Error != want {
		t.Errorf("outcome %s, error %q; want cancelled, %q", rec.Outcome, rec.Error, want)
	}
	if got, want := rec.SaidText(), "cancelled, left on 1 on localhost"; got != want {
		t.Errorf("said: got %q, want %q", got, want)
	}
	var end string
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, `msg="deploy ended"`) {
			end = line
		}
	}
	for _, want := range []string{" outcome=cancelled ", ` left="left on 1 on localhost"`} {
		if !strings.Contains(end, want) {
			t.Errorf("log: got %q, want it to say %s", end, want)
		}
	}
	if f.exists("releases/.bad-1") {
		t.Error("the cancelled first release was marked bad")
	}
	if got := f.link("current"); got != "releases/1" {
		t.Errorf("current %q, want releases/1", got)
	}
}

// TestCancelBeforeAnySwitchMarksNothingBad: a cancel that arrives while
// the migrations run stops the deploy before any host switches. Nobody
// found the build faulty and no host ran it: it is not marked bad, and the
// record does not say so. Marked, a release that ran here before (a
// redeploy of it, cancelled) was no rollback target any more.
func TestCancelBeforeAnySwitchMarksNothingBad(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	yaml := strings.Replace(fixtureYAML, `run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`,
		"run: 'for m in $(ls migrations); do grep -qx \"$m\" ../../applied 2>/dev/null || echo \"$m\" >> ../../applied; done; if [ -e "+dir+"/slow ]; then touch "+started+"; sleep 1; fi'", 1)
	f := newFixtureFrom(t, fmt.Sprintf(yaml, "true"), &local.Transport{})
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	// Deploying 1 again finds a migration pending, which runs slowly.
	if err := os.WriteFile(filepath.Join(f.app, "releases/1/migrations/002_more.sql"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "slow"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := cancelInMigration(t, f, started)
	if rec.Outcome != deploy.OutcomeCancelled || !strings.Contains(rec.Error, "cancelled by bob") || strings.Contains(rec.Error, "marked bad") {
		t.Errorf("got outcome %s (%s), want cancelled by bob, nothing marked bad", rec.Outcome, rec.Error)
	}
	if f.exists("releases/.bad-1") {
		t.Error("release 1, which nothing switched to, was marked bad by the cancel")
	}
	if got := f.link("current"); got != "releases/2" {
		t.Errorf("current %q, want releases/2", got)
	}
	// 1 ran here before: it is still where a rollback goes.
	rb := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	if rb.Build != "1" {
		t.Errorf("rollback went to %s, want 1", rb.Build)
	}
}

// cancelInMigration deploys build 1 as ana, waits for its migration to
// write the file started, cancels the deploy as bob, and returns how it
// ended.
func cancelInMigration(t *testing.T, f *fixture, started string) *deploy.Record {
	t.Helper()
	return cancelInMigrationOf(t, f, "1", started)
}

// cancelInMigrationOf is cancelInMigration of build.
func cancelInMigrationOf(t *testing.T, f *fixture, build, started string) *deploy.Record {
	t.Helper()
	done := make(chan *deploy.Record, 1)
	if _, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: build, Requester: "ana"}, func(ev deploy.Event) {
		f.sink(ev)
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the migration did not start")
		}
	}
	if _, err := f.engine.Cancel("web", "prod", "bob"); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// TestCancelWhileTheArtifactOpens: a cancel that arrives while the bot
// waits for the artifact server (for its answer, or for the first bytes
// of the build, with push and with pull delivery) ends the deploy
// cancelled, saying by whom, not failed over an artifact it could not read.
func TestCancelWhileTheArtifactOpens(t *testing.T) {
	for _, tc := range []struct {
		name, delivery string
		headers        bool // the server answers before it stalls
	}{
		{"push, no answer yet", "push", false},
		{"push, no bytes yet", "push", true},
		{"pull, no answer yet", "pull", false},
		{"pull, no bytes yet", "pull", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arts := t.TempDir()
			stalled := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				file := filepath.Join(arts, path.Base(r.URL.Path))
				if r.Method != http.MethodGet || !strings.HasSuffix(file, ".tar.gz") {
					http.ServeFile(w, r, file)
					return
				}
				if tc.headers {
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
				}
				select {
				case stalled <- struct{}{}:
				default:
				}
				<-r.Context().Done()
			}))
			t.Cleanup(srv.Close)
			yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "      path: artifacts/{app}-{build}.tar.gz\n",
				"      url: "+srv.URL+"/{app}-{build}.tar.gz\n    delivery: "+tc.delivery+"\n", 1)
			f := newFixtureFrom(t, yaml, &local.Transport{})
			f.arts = arts
			f.build("1")
			done := make(chan *deploy.Record, 1)
			if _, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, func(ev deploy.Event) {
				if ev.Kind == deploy.EventFinished {
					done <- ev.Record
				}
			}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-stalled:
			case <-time.After(10 * time.Second):
				t.Fatal("the deploy did not ask for the artifact")
			}
			if _, err := f.engine.Cancel("web", "prod", "bob"); err != nil {
				t.Fatal(err)
			}
			rec := <-done
			if rec.Outcome != deploy.OutcomeCancelled || !strings.Contains(rec.Error, "cancelled by bob") {
				t.Errorf("got outcome %s (%s), want cancelled by bob", rec.Outcome, rec.Error)
			}
			if f.link("current") != "" {
				t.Errorf("current is %q, want none", f.link("current"))
			}
		})
	}
}

// TestSwitchBackKeepsMigrations: a deploy that ran its migrations and then
// switched its hosts back (a failed health check) or stopped before
// switching any (a cancel) says that the migrations it ran stay applied,
// rather than leave "switched back" to read as if the deploy were undone.
// One that ran none does not say so.
func TestSwitchBackKeepsMigrations(t *testing.T) {
	const kept = "the migrations it ran (002_email.sql) stay applied"
	for _, tc := range []struct {
		name       string
		migrations bool // build 2 brings a migration
		cancel     bool // cancelled while migrating, rather than failing its health check
		want       deploy.Outcome
	}{
		{name: "failed health check after its migrations", migrations: true, want: deploy.OutcomeReverted},
		{name: "cancelled while migrating", migrations: true, cancel: true, want: deploy.OutcomeCancelled},
		{name: "failed health check, no migrations", want: deploy.OutcomeReverted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			started := filepath.Join(dir, "started")
			// The migration runs slowly once dir/slow exists.
			yaml := strings.Replace(failingHealth(fixtureYAML), `run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`,
				"run: 'for m in $(ls migrations); do grep -qx \"$m\" ../../applied 2>/dev/null || echo \"$m\" >> ../../applied; done; if [ -e "+dir+"/slow ]; then touch "+started+"; sleep 1; fi'", 1)
			f := newFixtureFrom(t, fmt.Sprintf(yaml, "true"), &local.Transport{})
			f.build("1")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			var extra []tarEntry
			if tc.migrations {
				extra = append(extra, tarEntry{name: "migrations/002_email.sql", body: "alter table users;"})
			}
			var rec *deploy.Record
			if tc.cancel {
				if err := os.WriteFile(filepath.Join(dir, "slow"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				f.build("2", extra...)
				rec = cancelInMigrationOf(t, f, "2", started)
			} else {
				f.build("2", append(extra, tarEntry{name: "BROKEN", body: "x"})...)
				rec = f.mustRun(deploy.KindDeploy, "2", tc.want)
			}
			if rec.Outcome != tc.want {
				t.Errorf("outcome %s (%s), want %s", rec.Outcome, rec.Error, tc.want)
			}
			if got := f.link("current"); got != "releases/1" {
				t.Errorf("current %q, want releases/1", got)
			}
			if applied := f.read("applied"); tc.migrations != strings.Contains(applied, "002_email.sql") {
				t.Fatalf("applied %q: want 002_email.sql applied: %v", applied, tc.migrations)
			}
			if said := strings.Contains(rec.Error, kept); said != tc.migrations {
				t.Errorf("record error %q: says %q: %v, want %v", rec.Error, kept, said, tc.migrations)
			}
		})
	}
}
