package postdeploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestAutomaticRollbackAnnouncesWhatItPasses: a rollback passes a closed
// window and another's lock, and a person's says so in the channel; the
// bot's own rollback passes the same gate and says so too.
func TestAutomaticRollbackAnnouncesWhatItPasses(t *testing.T) {
	tests := []struct {
		name   string
		window string // the env's window key, or ""
		lock   *deploy.Lock
		want   []string // lines of the spike message; none for none
	}{
		{
			name: "another's lock",
			lock: &deploy.Lock{App: "web", Env: "production", Owner: "ana", Reason: "db maintenance"},
			want: []string{"rolling back although web/production is locked: locked by ana since"},
		},
		{
			name:   "a closed window",
			window: `        window: {freezes: [{from: 2000-01-01, to: 2999-01-01, message: year-end freeze}]}` + "\n",
			want:   []string{"rolling back although deploys to web/production are closed now: frozen: year-end freeze"},
		},
		{
			name:   "a closed window and another's lock",
			window: `        window: {freezes: [{from: 2000-01-01, to: 2999-01-01, message: year-end freeze}]}` + "\n",
			lock:   &deploy.Lock{App: "web", Env: "production", Owner: "ana", Reason: "db maintenance"},
			want: []string{"rolling back although deploys to web/production are closed now: frozen: year-end freeze",
				"rolling back although web/production is locked: locked by ana since"},
		},
		{name: "open and unlocked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeSentry(t)
			dir := t.TempDir()
			yaml := fmt.Sprintf(`sentry: {url: %s, org: acme, token: sntrys_test}
users:
  ana: {}
admins: [ana]
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'true'
    environments:
      production:
        hosts: [localhost]
        channel: "#deploys"
%s        sentry: {project: web-backend, watch: 10m, interval: 1m, auto_rollback: true}
`, fs.srv.URL, tt.window)
			cfg, st := webFixture(t, dir, yaml)
			policy, err := acl.New(cfg.AccessRules())
			if err != nil {
				t.Fatal(err)
			}
			clk := testclock.New(time.Now().Truncate(time.Minute))
			sc, err := sentry.New(sentry.Options{BaseURL: fs.srv.URL, Token: "sntrys_test"})
			if err != nil {
				t.Fatal(err)
			}
			out := &posts{}
			var eng *deploy.Engine
			var svc *commands.Service
			w := postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: out, Audit: st, History: st,
				Rollback: rollbacker{&eng}, Gate: gate{&svc}, Now: clk.Now, Sleep: clk.Sleep,
				Channel: func(app, env string) string { return "#deploys" }})
			defer w.Close()
			eng = deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
				Store: st, Leases: st, Locks: st, Now: clk.Now, Observers: []deploy.Sink{w.Observe}})
			svc = commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy})
			run := func(build string) {
				t.Helper()
				mustDeploy(t, eng, deploy.Request{App: "web", Env: "production", Build: build, Requester: "ana"})
			}
			run("1")
			eng.Wait()
			w.Wait()
			if tt.lock != nil {
				l := *tt.lock
				l.Created = clk.Now()
				if err := st.PutLock(context.Background(), l); err != nil {
					t.Fatal(err)
				}
			}
			fs.deployAt = clk.Now()
			fs.spiking.Store(true)
			run("2")
			w.Wait()
			eng.Wait()

			got := out.titles()
			if !strings.Contains(got, "auto_rollback is on for web/production: rolling back now") || !strings.Contains(got, "Rolled back web/production to 1 by itself (succeeded)") {
				t.Fatalf("no automatic rollback:\n%s", got)
			}
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("posts lack %q:\n%s", want, got)
				}
			}
			if len(tt.want) == 0 && strings.Contains(got, "rolling back although") {
				t.Errorf("posts announce a gate passed, want none:\n%s", got)
			}
			// The audit log keeps what the rollback went past, as the
			// channel was told it: the post does not outlive the log.
			entries, err := st.Audit(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var started []string
			for _, e := range entries {
				if e.Action == "rollback" && e.Decision == audit.Event && strings.HasPrefix(e.Reason, "automatic rollback ") && !strings.Contains(e.Reason, " finished: ") {
					started = append(started, e.Reason)
				}
			}
			if len(started) != 1 {
				t.Fatalf("audit entries of the automatic rollback's start: got %q, want one", started)
			}
			for _, want := range tt.want {
				if !strings.Contains(started[0], want) {
					t.Errorf("audit entry %q lacks %q", started[0], want)
				}
			}
			if len(tt.want) == 0 && strings.Contains(started[0], "rolling back although") {
				t.Errorf("audit entry %q names a gate passed, want none", started[0])
			}
		})
	}
}

// gate defers to the command service built after the watcher.
type gate struct{ s **commands.Service }

func (g gate) RollbackPasses(ctx context.Context, app, env string) []string {
	return (*g.s).RollbackPasses(ctx, app, env)
}

// heldPresence is a presence source that answers only once the rollback
// has started, or after hold: Slack's rate limits holding the bot back.
type heldPresence struct {
	started chan struct{}
	hold    time.Duration
	late    atomic.Bool // an answer given before the rollback started
}

func (p *heldPresence) Active(ctx context.Context, user string) (bool, error) {
	select {
	case <-p.started:
		return false, nil
	case <-time.After(p.hold):
		p.late.Store(true)
		return false, fmt.Errorf("slack presence of %s: rate limited", user)
	}
}

// startSignal is a rollbacker that says when the rollback has started.
type startSignal struct {
	rollbacker
	started chan struct{}
	once    sync.Once
}

func (s *startSignal) Rollback(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error) {
	rec, err := s.rollbacker.Rollback(ctx, req, sink)
	s.once.Do(func() { close(s.started) })
	return rec, err
}

// TestAutomaticRollbackStartsBeforeAdminPresence: where the env needs an
// admin around, what the automatic rollback passes names whether one is.
// Read from each admin's Slack presence, that held the rollback seconds
// under Slack's rate limits, for a note: the announcement, made before
// the rollback starts, counts check-ins only, and says so.
func TestAutomaticRollbackStartsBeforeAdminPresence(t *testing.T) {
	fs := newFakeSentry(t)
	dir := t.TempDir()
	yaml := fmt.Sprintf(`sentry: {url: %s, org: acme, token: sntrys_test}
users:
  ana: {slack: UANA}
admins: [ana]
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'true'
    environments:
      production:
        hosts: [localhost]
        channel: "#deploys"
        window: {require_admin_present: true}
        sentry: {project: web-backend, watch: 10m, interval: 1m, auto_rollback: true}
`, fs.srv.URL)
	cfg, st := webFixture(t, dir, yaml)
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(time.Now().Truncate(time.Minute))
	sc, err := sentry.New(sentry.Options{BaseURL: fs.srv.URL, Token: "sntrys_test"})
	if err != nil {
		t.Fatal(err)
	}
	out := &posts{}
	var eng *deploy.Engine
	var svc *commands.Service
	started := make(chan struct{})
	rb := &startSignal{rollbacker: rollbacker{&eng}, started: started}
	w := postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: out, Audit: st, History: st,
		Rollback: rb, Gate: gate{&svc}, Now: clk.Now, Sleep: clk.Sleep,
		Channel: func(app, env string) string { return "#deploys" }})
	defer w.Close()
	eng = deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st, Now: clk.Now, Observers: []deploy.Sink{w.Observe}})
	pres := &heldPresence{started: started, hold: 3 * time.Second}
	svc = commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy, Presence: pres})
	run := func(build string) {
		t.Helper()
		mustDeploy(t, eng, deploy.Request{App: "web", Env: "production", Build: build, Requester: "ana"})
	}
	run("1")
	eng.Wait()
	w.Wait()
	fs.deployAt = clk.Now()
	fs.spiking.Store(true)
	run("2")
	w.Wait()
	eng.Wait()

	if pres.late.Load() {
		t.Error("the admin's presence was given up on before the rollback started, want the rollback started without waiting for it")
	}
	got := out.titles()
	announce := strings.Index(got, "auto_rollback is on for web/production: rolling back now")
	ended := strings.Index(got, "Rolled back web/production to 1 by itself (succeeded)")
	if announce < 0 || ended < 0 {
		t.Fatalf("no automatic rollback:\n%s", got)
	}
	if announce > ended {
		t.Errorf("posts: got the rollback's end before its announcement, want the announcement first:\n%s", got)
	}
	line := got[announce:]
	line = line[:strings.IndexByte(line+"\n", '\n')]
	for _, want := range []string{
		"rolling back although deploys to web/production are closed now: no admin is around (an admin checks in with /here)",
		"admins' chat presence not looked up, so as not to hold a rollback back: only check-ins count",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("announcement: got %q, want it to say %q", line, want)
		}
	}
}
