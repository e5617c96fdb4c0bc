package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// hostDirs runs each host of a local fleet in its own copy of the app's
// directory, named after the host: scripts name the configured path,
// which each host's session rewrites to its own.
type hostDirs struct {
	configured, app string
	tr              local.Transport
}

func (m *hostDirs) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := m.tr.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return &hostDirSession{Session: s, from: m.configured, to: m.app + "-" + h.Name}, nil
}

type hostDirSession struct {
	deploy.Session
	from, to string
}

func (s *hostDirSession) Run(ctx context.Context, c deploy.Command) ([]byte, error) {
	c.Script = strings.ReplaceAll(c.Script, s.from, s.to)
	return s.Session.Run(ctx, c)
}

// TestRollbackOfMixedHostsNeedsATarget: after a partial deploy the hosts
// run different releases; a rollback must be told where to go, and then
// each host that switches marks bad the release it left. The refusal of
// one naming none, with `from` or without, offers the rollback that names
// the release the partial deploy recorded, which is taken; it offered
// nothing.
func TestRollbackOfMixedHostsNeedsATarget(t *testing.T) {
	f, current := threeHostsConfig(t, 1, "true", failingHealth)
	f.build("3", tarEntry{name: "BROKEN-h0", body: "x"})
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	if got := current("h0") + " " + current("h1"); got != "releases/2 releases/3" {
		t.Fatalf("after the partial deploy: h0 and h1 on %q, want releases/2 releases/3", got)
	}

	var offer commands.Command
	for _, from := range []string{"", "3"} {
		_, err := f.runRequest(deploy.KindRollback, deploy.Request{App: "web", Env: "prod", From: from, Requester: "ana"}, 30*time.Second)
		if err == nil || !strings.Contains(err.Error(), "run different releases (2 on h0; 3 on h1, h2); name the release to roll back to: rollback web prod to BUILD") {
			t.Fatalf("rollback from %q without a target: got %v, want a refusal naming each host's release", from, err)
		}
		cmds := offered(t, f.cfg, errs.Message(err))
		if len(cmds) != 1 || cmds[0].Verb != commands.VerbRollback || cmds[0].App != "web" || cmds[0].Env != "prod" || cmds[0].Build != "2" || cmds[0].From != "3" {
			t.Fatalf("rollback from %q without a target offers %+v, want one rollback of web/prod to 2 from 3: %s", from, cmds, errs.Message(err))
		}
		offer = cmds[0]
	}
	rb, err := f.runRequest(deploy.KindRollback, deploy.Request{App: "web", Env: "prod", Build: offer.Build, From: offer.From, Requester: "ana"}, 30*time.Second)
	if err != nil || rb.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("the offered rollback (%s): got %+v, %v; want it to succeed", offer.Text, rb, err)
	}
	for _, h := range []string{"h0", "h1", "h2"} {
		if c := current(h); c != "releases/2" {
			t.Errorf("%s: current %s after rolling back to 2", h, c)
		}
		// h0's 3 is bad from the deploy's own failure.
		for b, want := range map[string]bool{"2": false, "3": true} {
			if _, err := os.Stat(filepath.Join(f.app+"-"+h, "releases/.bad-"+b)); (err == nil) != want {
				t.Errorf("%s: release %s marked bad: %v, want %v", h, b, err == nil, want)
			}
		}
	}
	if !strings.Contains(rb.Previous, "3 on h1, h2") {
		t.Errorf("rollback record: from %q, want the releases it left", rb.Previous)
	}
	if locks, err := f.store.Locks(context.Background()); err != nil || len(locks) != 1 {
		t.Errorf("locks after the rollback: %v, %v; want the rollback's lock", locks, err)
	}
}

// threeHosts is a fixture of three hosts, h0 to h2, each in a directory
// of its own, that have run builds 1 and 2; a file BROKEN-HOST in the
// current release fails HOST's health check. current returns where a
// host's `current` points.
func threeHosts(t *testing.T) (f *fixture, current func(host string) string) {
	t.Helper()
	return threeHostsMax(t, 1)
}

// threeHostsMax is threeHosts with max_failures set to maxFailures.
func threeHostsMax(t *testing.T, maxFailures int) (f *fixture, current func(host string) string) {
	t.Helper()
	return threeHostsRestart(t, maxFailures, "true")
}

// threeHostsRestart is threeHostsMax with restart as the app's restart.
func threeHostsRestart(t *testing.T, maxFailures int, restart string) (f *fixture, current func(host string) string) {
	t.Helper()
	return threeHostsConfig(t, maxFailures, restart, func(yaml string) string { return yaml })
}

// threeHostsConfig is threeHostsRestart with edit applied to the config
// text first.
func threeHostsConfig(t *testing.T, maxFailures int, restart string, edit func(yaml string) string) (f *fixture, current func(host string) string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "web")
	yaml := strings.Replace(edit(fmt.Sprintf(fixtureYAML, restart)), "        hosts: [localhost]\n",
		"        transport: ssh\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n        max_failures: "+strconv.Itoa(maxFailures)+"\n        hosts:\n          - {name: h0, address: 'a:22'}\n          - {name: h1, address: 'b:22'}\n          - {name: h2, address: 'c:22'}\n", 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	yaml = strings.Replace(yaml, "test ! -e current/BROKEN'", "test ! -e current/BROKEN-{host}'", 1)
	m := &hostDirs{configured: root}
	f = newFixtureWith(t, yaml, func(o *deploy.Options) { o.Transports["ssh"] = m })
	m.app = f.app
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	return f, func(h string) string {
		l, _ := os.Readlink(filepath.Join(f.app+"-"+h, "current"))
		return l
	}
}

// TestRetriedRollbackRestartsWhereItFailed: a rollback whose health check
// failed on one host after it switched leaves that host on the target.
// Retried, with the target named or not, it restarts that host there:
// it neither answers that every host runs the target already nor takes
// the others one release further back.
func TestRetriedRollbackRestartsWhereItFailed(t *testing.T) {
	for _, named := range []string{"", "1"} {
		t.Run("target "+orDash(named), func(t *testing.T) {
			f, current := threeHostsConfig(t, 1, "true", failingHealth)
			broken := filepath.Join(f.app+"-h1", "releases/1/BROKEN-h1")
			if err := os.WriteFile(broken, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			failed := f.mustRun(deploy.KindRollback, "", deploy.OutcomeFailed)
			if failed.Build != "1" || current("h1") != "releases/1" {
				t.Fatalf("first rollback: to %s, h1 on %s; want 1 and h1 switched to it", failed.Build, current("h1"))
			}
			if err := os.Remove(broken); err != nil {
				t.Fatal(err)
			}

			rec := f.mustRun(deploy.KindRollback, named, deploy.OutcomeSucceeded)
			if rec.Build != "1" || rec.Previous != "2" {
				t.Errorf("retry: from %s to %s, want from 2 to 1", rec.Previous, rec.Build)
			}
			want := map[string]deploy.HostState{"h0": deploy.HostUnchanged, "h1": deploy.HostActive, "h2": deploy.HostUnchanged}
			for _, hr := range rec.Hosts {
				if hr.State != want[hr.Host] {
					t.Errorf("retry: %s %s, want %s", hr.Host, hr.State, want[hr.Host])
				}
			}
			for _, h := range []string{"h0", "h1", "h2"} {
				if c := current(h); c != "releases/1" {
					t.Errorf("%s: current %s after the retry, want releases/1", h, c)
				}
			}
			if p, _ := os.Readlink(filepath.Join(f.app+"-h1", "previous")); p != "releases/2" {
				t.Errorf("h1: previous %s after the retry, want releases/2 kept", p)
			}
			if !f.sawNote("finishing the last run's switch to 1: restarting h1") {
				t.Error("the retry did not say it restarts h1")
			}
			// Nothing is left to retry: the next rollback is an ordinary one.
			if _, err := f.run(deploy.KindRollback, "1"); err == nil || !strings.Contains(err.Error(), "already runs 1 on every host") {
				t.Errorf("rollback to 1 after the retry: %v, want nothing to do", err)
			}
		})
	}
}

// TestRollbackFinishesAFailedSwitchBack: a deploy whose switch back
// failed on a host (its restart or health check on the release it went
// back to), or that died with a host mid-switch, leaves that host on the
// earlier release without a passing restart. A rollback then restarts it
// there: it neither answers that every host runs that release already nor
// takes the fleet one release further back.
func TestRollbackFinishesAFailedSwitchBack(t *testing.T) {
	for _, tt := range []struct {
		name  string
		max   int
		named string
		// bad is the host whose health fails on 3 and, after the deploy
		// tried to switch it back, on 2.
		bad     string
		outcome deploy.Outcome
	}{
		{"reverted deploy", 0, "", "h0", deploy.OutcomeReverted},
		{"reverted deploy, target named", 0, "2", "h0", deploy.OutcomeReverted},
		{"partial deploy", 1, "2", "h1", deploy.OutcomePartial},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, current := threeHostsConfig(t, tt.max, "true", failingHealth)
			broken := filepath.Join(f.app+"-"+tt.bad, "releases/2/BROKEN-"+tt.bad)
			if err := os.WriteFile(broken, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			f.build("3", tarEntry{name: "BROKEN-" + tt.bad, body: "x"})
			dep := f.mustRun(deploy.KindDeploy, "3", tt.outcome)
			if hr := dep.Host(tt.bad); hr.State != deploy.HostFailed || hr.Current != "2" || current(tt.bad) != "releases/2" {
				t.Fatalf("deploy 3: %s %s on %s (current %s), want failed on 2", tt.bad, hr.State, hr.Current, current(tt.bad))
			}
			if err := os.Remove(broken); err != nil {
				t.Fatal(err)
			}

			rec := f.mustRun(deploy.KindRollback, tt.named, deploy.OutcomeSucceeded)
			if rec.Build != "2" || !strings.Contains(rec.Previous, "3") {
				t.Errorf("rollback: from %q to %s, want from 3 to 2", rec.Previous, rec.Build)
			}
			for _, hr := range rec.Hosts {
				if want := deploy.HostActive; hr.Host == tt.bad && hr.State != want {
					t.Errorf("rollback: %s %s, want %s (restarted on 2)", hr.Host, hr.State, want)
				}
			}
			for _, h := range []string{"h0", "h1", "h2"} {
				if c := current(h); c != "releases/2" {
					t.Errorf("%s: current %s after the rollback, want releases/2", h, c)
				}
			}
			if !f.sawNote("finishing the last run's switch to 2: restarting " + tt.bad) {
				t.Errorf("the rollback did not say it restarts %s", tt.bad)
			}
		})
	}
}

// TestRollbackFinishesAnInterruptedSwitch: a deploy that died while h1
// was mid-switch (its record says activating, on 2) has the rollback
// restart h1 on 2 and leave the others, rather than take the fleet to 1.
func TestRollbackFinishesAnInterruptedSwitch(t *testing.T) {
	f, current := threeHosts(t)
	now := time.Now()
	dead := &deploy.Record{ID: "dead-3", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "3", Previous: "2",
		Requester: "alice", Started: now, Finished: now, Outcome: deploy.OutcomeInterrupted, Error: "the bot stopped before it finished", Fence: f.deadFence(),
		Hosts: []deploy.HostResult{
			{Host: "h0", State: deploy.HostUnchanged, Current: "2", Previous: "2"},
			{Host: "h1", State: deploy.HostActivating, Current: "2", Previous: "2", Switched: true},
			{Host: "h2", State: deploy.HostPending, Current: "2", Previous: "2"},
		}}
	if err := f.store.PutRecord(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	if rec.Build != "2" || rec.Previous != "3" {
		t.Errorf("rollback: from %q to %s, want from 3 to 2", rec.Previous, rec.Build)
	}
	want := map[string]deploy.HostState{"h0": deploy.HostUnchanged, "h1": deploy.HostActive, "h2": deploy.HostUnchanged}
	for _, hr := range rec.Hosts {
		if hr.State != want[hr.Host] {
			t.Errorf("rollback: %s %s, want %s", hr.Host, hr.State, want[hr.Host])
		}
	}
	for _, h := range []string{"h0", "h1", "h2"} {
		if c := current(h); c != "releases/2" {
			t.Errorf("%s: current %s after the rollback, want releases/2", h, c)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TestRollbackNeverGoesToAReleaseThatDidNotRun: with `previous` bad, the
// fallback skips a release a refused deploy delivered but never switched
// to.
func TestRollbackNeverGoesToAReleaseThatDidNotRun(t *testing.T) {
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n", "        hosts: [localhost]\n        migrate: never\n", 1)
	f := newFixtureWith(t, yaml, func(o *deploy.Options) {})
	// The fixture's builds carry migrations/001_users.sql: applied already.
	if err := os.MkdirAll(f.app, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.app, "applied"), []byte("001_users.sql\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"1", "2", "3"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
		time.Sleep(20 * time.Millisecond) // releases' mtimes apart
	}
	f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded) // 3 → 2; 3 is bad, previous is 3
	if _, err := f.store.DeleteLock(context.Background(), "web", "prod"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	f.build("4", tarEntry{name: "migrations/004_x.sql", body: "drop table users;"})
	if rec, _ := f.run(deploy.KindDeploy, "4"); rec == nil || rec.Outcome == deploy.OutcomeSucceeded {
		t.Fatalf("deploy 4 with a migration under migrate: never: got %+v, want it refused", rec)
	}
	rb := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	if rb.Build != "1" || f.link("current") != "releases/1" {
		t.Errorf("rollback from 2: went to %s (current %s), want 1: 4 never ran and 3 is bad", rb.Build, f.link("current"))
	}
}

// unrecordable fails every PutRecord, as an unreachable store does.
type unrecordable struct{ deploy.Store }

func (unrecordable) PutRecord(context.Context, *deploy.Record) error {
	return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
}

// TestUnrecordableDeployDoesNotStart: a deploy the store cannot record
// is refused before it touches a host.
func TestUnrecordableDeployDoesNotStart(t *testing.T) {
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Store = unrecordable{o.Store}
	})
	f.build("1")
	rec, err := f.run(deploy.KindDeploy, "1")
	if err == nil || !strings.Contains(err.Error(), "could not be recorded; nothing was changed") {
		t.Fatalf("deploy: got %+v, %v; want a refusal saying it could not be recorded", rec, err)
	}
	if c := f.link("current"); c != "" {
		t.Errorf("current -> %s after a refused deploy", c)
	}
	// The lease was given back: the next try is refused for the same
	// reason, not because web/prod is busy.
	if _, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, nil); err == nil || !strings.Contains(err.Error(), "could not be recorded") {
		t.Errorf("the next deploy: got %v, want the same refusal (the lease given back)", err)
	}
}

// TestSwitchFailingAfterTheRename: a switch script that fails after it
// renamed `current` (here the build's stale bad marker cannot be removed)
// has moved the host all the same. The deploy reads where `current` points,
// switches the host back and records what runs, instead of leaving the new
// release live behind a record that says the old one is.
func TestSwitchFailingAfterTheRename(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if err := os.MkdirAll(filepath.Join(f.app, "releases", ".bad-2", "stuck"), 0o755); err != nil {
		t.Fatal(err)
	}
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	if c := f.link("current"); c != "releases/1" {
		t.Errorf("current -> %s, want releases/1 (switched back)", c)
	}
	h := rec.Host("localhost")
	if h.Current != "1" || h.State != deploy.HostReverted {
		t.Errorf("record: host %s on %q, want reverted on 1 (%s)", h.State, h.Current, h.Error)
	}
}

// drainTimingOut is a pool whose drains run out of time with sessions
// still open, as a server whose clients hold websockets.
type drainTimingOut struct {
	mu    sync.Mutex
	calls []string
}

func (p *drainTimingOut) Check(context.Context, []deploy.Host) (map[string]string, error) {
	return nil, nil
}

func (p *drainTimingOut) Drain(_ context.Context, h deploy.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, "drain "+h.Name)
	return fmt.Errorf("2 sessions still open after 30s: %w", deploy.ErrDrainTimeout)
}

func (p *drainTimingOut) Ready(_ context.Context, h deploy.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, "ready "+h.Name)
	return nil
}

// TestDrainTimeoutRestartsAnyway: sessions open at the drain timeout do not
// fail the host (it would stay out of rotation, never deployed); it is
// restarted, checked and put back, and the progress says so.
func TestDrainTimeoutRestartsAnyway(t *testing.T) {
	pool := &drainTimingOut{}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Pools = func(*config.App, *config.Env) (deploy.Pool, error) { return pool, nil }
	})
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if got := f.read("restarts.log"); got != "1\n" {
		t.Errorf("restarts: got %q, want build 1 restarted", got)
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if got := strings.Join(pool.calls, ", "); got != "drain localhost, ready localhost" {
		t.Errorf("pool calls: got %s", got)
	}
	if !f.sawNote("localhost: 2 sessions still open after 30s: drain timed out; restarting it anyway") {
		t.Error("no note of the sessions the restart cut")
	}
}

// TestRollbackRefusesAReleaseNamed: after 1 and 2 ran and a deploy of 3
// failed, a rollback named to 3 (marked bad) or to 7 (not on disk) is
// refused, saying why and what would do: how to run a bad release again,
// or which releases are there, the bad ones apart so that none reads as
// missing or as a target.
func TestRollbackRefusesAReleaseNamed(t *testing.T) {
	for _, tc := range []struct {
		to   string
		want []string
	}{
		{"3", []string{"release 3 of web/prod is marked bad on localhost", "deploy web 3 to prod"}},
		{"7", []string{"release 7 of web/prod is not on localhost; good releases on every host: 2, 1 (marked bad: 3)"}},
	} {
		t.Run(tc.to, func(t *testing.T) {
			f := newFailingFixture(t)
			for _, b := range []string{"1", "2"} {
				f.build(b)
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			f.build("3", tarEntry{name: "BROKEN", body: "x"})
			f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeReverted)
			_, err := f.run(deploy.KindRollback, tc.to)
			for _, want := range tc.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("rollback to %s: %v, want it to say %q", tc.to, err, want)
				}
			}
			if got := f.link("current"); got != "releases/2" {
				t.Errorf("current %s after the refusal, want releases/2", got)
			}
		})
	}
}

// historyOutage fails the reads of the deploy history while down is set,
// as a store that times out does; the list of running records still
// answers.
type historyOutage struct {
	deploy.Store
	down *atomic.Bool
}

func (s historyOutage) Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error) {
	if s.down.Load() && f.Outcome == "" {
		return nil, errors.New("state store did not answer in time: context deadline exceeded")
	}
	return s.Store.Records(ctx, f)
}

// TestStuckRollbackClickWhileHistoryUnreadable: the button of an
// interrupted rollback from 2 to 1, which switched the host to 1, sends
// `rollback web prod to 1 from 2`, and finishes that run. While the
// history cannot be read, which is how the rollback learns the host is
// stuck, the click is refused for that, to be tried again: not as a
// stale click ("runs 1 now, not 2"), whose advice, a plain rollback, would
// take the host further back, to a release nobody asked for.
func TestStuckRollbackClickWhileHistoryUnreadable(t *testing.T) {
	var down atomic.Bool
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Store = historyOutage{Store: o.Store, down: &down}
	})
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	// A rollback from 2 to 1 died after switching the host, before its
	// restart; recovery has reported it.
	cur := filepath.Join(f.app, "current")
	if err := os.Remove(cur); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("releases/1", cur); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dead := &deploy.Record{ID: "20260101-000000-dead01", Kind: deploy.KindRollback, App: "web", Env: "prod", Build: "1", Previous: "2",
		Requester: "ana", Started: now, Finished: now, Outcome: deploy.OutcomeInterrupted, Error: "the bot stopped before it finished", Fence: f.deadFence(),
		Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating, Current: "1", Previous: "2", Switched: true}}}
	if err := f.store.PutRecord(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	click := deploy.Request{App: "web", Env: "prod", Build: "1", From: "2", Requester: "bob"}

	down.Store(true)
	rec, err := f.engine.Rollback(context.Background(), click, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot read the deploy history") || errs.CodeOf(err) != errs.Unavailable {
		t.Errorf("click while the history is unreadable: got %+v, %v; want refused as unavailable, saying the history cannot be read", rec, err)
	}
	if c := f.link("current"); c != "releases/1" {
		t.Errorf("current after the refused click: %s, want releases/1", c)
	}

	down.Store(false)
	done := make(chan *deploy.Record, 1)
	if _, err := f.engine.Rollback(context.Background(), click, func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}); err != nil {
		t.Fatalf("the same click once the history is back: %v", err)
	}
	select {
	case rb := <-done:
		if rb.Outcome != deploy.OutcomeSucceeded || rb.Build != "1" || rb.Previous != "2" {
			t.Errorf("the same click once the history is back: got %s from %s to %s, want succeeded from 2 to 1", rb.Outcome, rb.Previous, rb.Build)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the rollback did not finish within 30 s")
	}
}
