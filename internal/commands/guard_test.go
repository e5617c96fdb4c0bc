package commands_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

const guardYAML = `users:
  ana: {slack: UANA}
  bob: {}
  carl: {}
  dana: {}
admins: [ana]
deployers: [bob]
roles:
  oncall: [deploy, rollback, override]
access:
  - role: oncall
    users: [dana]
    on: ["web/prod"]
apps:
  web:
    default_env: prod
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: '%s'
    environments:
      prod:
        hosts: [localhost]
        window:
          timezone: Europe/Warsaw
          weekly: ["Mon-Thu 09:00-16:00"]
          freezes: [{from: 2026-12-20, to: 2027-01-03, message: year-end freeze}]
          require_admin_present: true
  api:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/api
    restart: 'true'
    environments:
      staging:
        hosts: [localhost]
`

// presence is a PresenceSource answering from a map, or failing.
type presence struct {
	mu     sync.Mutex
	active map[string]bool
	err    error
}

func (p *presence) Active(_ context.Context, user string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active[user], p.err
}

func (p *presence) set(active map[string]bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active, p.err = active, err
}

type guardFixture struct {
	*serviceFixture
	clock    *testclock.Clock
	presence *presence
}

func newGuardFixture(t *testing.T, restart string) *guardFixture {
	t.Helper()
	if restart == "" {
		restart = "true"
	}
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), fmt.Appendf(nil, guardYAML, restart), nil)
	if err != nil {
		t.Fatal(err)
	}
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	clk := testclock.New(time.Date(2026, 11, 23, 10, 0, 0, 0, warsaw)) // a Monday
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st, Now: clk.Now})
	t.Cleanup(eng.Wait)
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	pres := &presence{}
	f := &guardFixture{serviceFixture: &serviceFixture{t: t, cfg: cfg, policy: policy, store: st, eng: eng, app: filepath.Join(dir, "srv/web")}, clock: clk, presence: pres}
	f.svc = commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy, Presence: pres, Now: clk.Now})
	for _, app := range []string{"web", "api"} {
		for _, b := range []string{"1", "2", "3"} {
			artifacttest.Publish(t, filepath.Join(dir, "artifacts", app+"-"+b+".tar.gz"), tgz(t, map[string]string{"BUILD": b}))
		}
	}
	return f
}

func TestDeployWindowsPresenceAndOverrides(t *testing.T) {
	f := newGuardFixture(t, "")
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	at := func(day, hour, minute int) { f.clock.Set(time.Date(2026, 11, day, hour, minute, 0, 0, warsaw)) }
	steps := []struct {
		name       string
		setup      func()
		user, text string
		failed     bool
		reply      []string
	}{
		{"no admin around", nil, "bob", "deploy web 1", true, []string{"no admin is around", "admins who can force it (--force \"reason\"): ana"}},
		{"carl may not check in", nil, "carl", "here", true, []string{"only admins check in"}},
		{"ana checks in", nil, "ana", "here for 2h", false, []string{"ana is around until 2026-11-23 12:00:00 CET"}},
		{"admins lists her", nil, "carl", "admins", false, []string{"ana: here until 2026-11-23 12:00:00 CET (checked in)"}},
		{"in the window with an admin", nil, "bob", "deploy web 1", false, []string{"Deploying web 1 to prod"}},
		{"check-in expired", func() { at(23, 12, 30) }, "bob", "deploy web 2", true, []string{"no admin is around"}},
		{"active on Slack counts", func() { f.presence.set(map[string]bool{"ana": true}, nil) }, "bob", "deploy web 2", false, []string{"Deploying web 2"}},
		{"presence error counts as away", func() { f.presence.set(nil, errors.New("slack: rate limited")) }, "bob", "deploy web 1", true, []string{"presence of ana unknown (slack: rate limited), counted as away"}},
		{"closing minute", func() { f.presence.set(map[string]bool{"ana": true}, nil); at(23, 16, 0) }, "bob", "deploy web 1", true, []string{
			"outside the deploy window (Mon-Thu 09:00-16:00 Europe/Warsaw)", "the next window opens Tue 2026-11-24 09:00 CET"}},
		{"force without override", nil, "bob", `deploy web 1 --force "hotfix"`, true, []string{"bob may not override web/prod",
			"deploys to web/prod are closed now: outside the deploy window (Mon-Thu 09:00-16:00 Europe/Warsaw); the next window opens Tue 2026-11-24 09:00 CET"}},
		{"admin forces", nil, "ana", `deploy web 1 --force "INC-42"`, false, []string{"ana forced this deploy outside its window: \"INC-42\""}},
		{"override forces past the window", nil, "dana", `deploy web 2 --force "hotfix"`, false, []string{"dana forced this deploy outside its window: \"hotfix\""}},
		{"rollback outside the window", nil, "bob", "rollback web", false, []string{"Rolling back web/prod", "rolling back although deploys to web/prod are closed now"}},
		{"freeze", func() {
			f.svc.Handle(context.Background(), commands.Request{User: "ana", Text: "unlock deploys web prod"}, newRecorder())
			f.clock.Set(time.Date(2026, 12, 21, 10, 0, 0, 0, warsaw))
		}, "bob", "deploy web 3", true, []string{"year-end freeze"}},
		{"env without a window", nil, "bob", "deploy api 1", false, []string{"Deploying api 1 to staging"}},
		{"away", func() { f.presence.set(nil, nil); at(24, 10, 0) }, "ana", "here", false, nil},
		{"away ends it", nil, "ana", "away", false, []string{"ana is away"}},
		{"nobody around again", nil, "bob", "deploy web 3", true, []string{"no admin is around"}},
		{"override is not an admin around", nil, "dana", `deploy web 3 --force "hotfix"`, true, []string{"no admin is around", "--force overrides the deploy window, not the need for an admin around"}},
		{"nor outside the window", func() { at(24, 17, 0) }, "dana", `deploy web 3 --force "hotfix"`, true, []string{"outside the deploy window", "no admin is around", "not the need for an admin around"}},
		{"an admin forcing is around", nil, "ana", `deploy web 3 --force "INC-43"`, false, []string{"ana forced this deploy outside its window: \"INC-43\""}},
	}
	for _, s := range steps {
		if s.setup != nil {
			s.setup()
		}
		res, out, rec := f.do(s.user, s.text)
		if res.Failed != s.failed {
			t.Errorf("%s: %q got failed=%v, want %v; reply %q", s.name, s.text, res.Failed, s.failed, out.last())
		}
		for _, w := range s.reply {
			if !strings.Contains(out.last(), w) {
				t.Errorf("%s: reply %q lacks %q", s.name, out.last(), w)
			}
		}
		if s.name == "admin forces" {
			if rec == nil || rec.Forced != "INC-42" {
				t.Errorf("forced deploy record: got %+v, want Forced INC-42", rec)
			}
			if len(out.replies) == 0 || !out.replies[0].Public {
				t.Error("an override is not announced publicly")
			}
		}
	}
	entries, _ := f.store.Audit(context.Background(), audit.Query{})
	var forced bool
	for _, e := range entries {
		if e.User == "ana" && strings.Contains(e.Reason, "forced this deploy") && e.Decision == audit.Allowed {
			forced = true
		}
	}
	if !forced {
		t.Error("the override is not in the audit log")
	}
}

func TestRuntimeGrants(t *testing.T) {
	f := newGuardFixture(t, "")
	steps := []struct {
		name       string
		setup      func()
		user, text string
		failed     bool
		reply      string
	}{
		{"carl has nothing", nil, "carl", "deploy api 1", true, "carl may not deploy api/staging"},
		{"bob may not grant", nil, "bob", "grant @carl deployer api", true, "grant is for admins: bob may not admin api"},
		{"bob may not revoke", nil, "bob", "revoke @carl deployer api", true, "revoke is for admins: bob may not admin api"},
		{"unknown role", nil, "ana", "grant @carl wizard api", true, `unknown role "wizard"; roles are admin, deployer`},
		{"unknown user", nil, "ana", "grant @zed deployer api", true, `unknown user "zed"`},
		{"user spelt in another case", nil, "ana", "grant @Carl deployer api", true, `unknown user "Carl"; user names are compared exactly, case and all: did you mean @carl? nothing was changed`},
		{"revoke spelt in another case", nil, "ana", "revoke @CARL deployer api", true, `unknown user "CARL"; user names are compared exactly, case and all: did you mean @carl?`},
		{"nothing was granted", nil, "carl", "deploy api 1", true, "carl may not deploy api/staging"},
		{"unmapped chat id", nil, "ana", "grant <@U999> deployer api", true, "chat user U999 is not mapped"},
		{"ana grants for an hour", nil, "ana", "grant @carl deployer api staging for 1h", false, "ana granted carl the role deployer on api/staging, until 2026-11-23 11:00:00 CET"},
		{"whoami shows it", nil, "carl", "whoami", false, "role deployer: deploy, rollback, cancel, lock, unlock, confirm, train on api/staging (granted by ana until"},
		{"carl deploys", nil, "carl", "deploy api 1", false, "Deploying api 1 to staging"},
		{"only there", nil, "carl", "deploy web 1", true, "carl may not deploy web/prod"},
		{"grant expired", func() { f.clock.Set(f.clock.Now().Add(2 * time.Hour)) }, "carl", "deploy api 2", true, "carl may not deploy"},
		{"grant by slack id", nil, "ana", "grant <@UANA> deployer api", false, "ana granted ana the role deployer on api"},
		{"grant again", nil, "ana", "grant @carl deployer api", false, "until revoked"},
		{"revoke", nil, "ana", "revoke @carl deployer api", false, "ana revoked the role deployer on api from carl"},
		{"revoked", nil, "carl", "deploy api 2", true, "carl may not deploy"},
		{"revoke nothing", nil, "ana", "revoke @carl deployer api", true, "carl has no runtime grant of role deployer on api"},
		{"audit is for admins", nil, "bob", "audit", true, "audit is for admins: bob may not admin everything"},
		{"audit", nil, "ana", "audit api 3", false, `ana (test C1)  allowed  "revoke @carl deployer api"`},
		{"revoke an unknown role", nil, "ana", "revoke @carl deplyer api", true, `unknown role "deplyer"; roles are admin, deployer, oncall; nothing was changed`},
		{"revoke a role the config dropped", func() {
			if err := f.store.PutGrant(context.Background(), acl.Grant{User: "carl", Role: "wizard", App: "api", GrantedBy: "ana", Created: f.clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}, "ana", "revoke @carl wizard api", false, "ana revoked the role wizard on api from carl"},
		{"carl is admin on api for an hour", nil, "ana", "grant @carl admin api for 1h", false, "ana granted carl the role admin on api, until"},
		{"not himself until revoked", nil, "carl", "grant @carl admin api", true, "carl is admin on api only until 2026-11-23 13:00:00 CET, by a runtime grant, and may not grant beyond it"},
		{"not another beyond his own", nil, "carl", "grant @bob deployer api staging for 2h", true, "carl is admin on api/staging only until 2026-11-23 13:00:00 CET"},
		{"within his own", nil, "carl", "grant @bob deployer api staging for 30m", false, "carl granted bob the role deployer on api/staging, until 2026-11-23 12:30:00 CET"},
	}
	for _, s := range steps {
		if s.setup != nil {
			s.setup()
		}
		res, out, _ := f.do(s.user, s.text)
		if res.Failed != s.failed {
			t.Errorf("%s: %q got failed=%v, want %v; reply %q", s.name, s.text, res.Failed, s.failed, out.last())
		}
		if !strings.Contains(out.last(), s.reply) {
			t.Errorf("%s: reply %q lacks %q", s.name, out.last(), s.reply)
		}
	}
}

// A lock taken while a deploy runs lets it finish; the next one is refused.
func TestLockDuringRunningDeploy(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	f := newGuardFixture(t, "while [ ! -e "+gate+" ]; do sleep 0.05; done")
	f.do("ana", "here")
	out := newRecorder()
	res := f.svc.Handle(context.Background(), commands.Request{User: "bob", Text: "deploy web 1"}, out)
	if res.Failed {
		t.Fatalf("deploy: %s", out.last())
	}
	if r, lout, _ := f.do("ana", "lock deploys web prod db maintenance"); r.Failed {
		t.Fatalf("lock: %s", lout.last())
	}
	// The deploy under way is shown with the zone of its start.
	if _, sout, _ := f.do("ana", "status"); !strings.Contains(sout.last(), "▶ running: deploy 1 of web/prod by bob since 10:00:00 CET (") {
		t.Errorf("status: got %q, want the running deploy since 10:00:00 CET", sout.last())
	}
	os.WriteFile(gate, nil, 0o644)
	select {
	case rec := <-out.finished:
		if rec.Outcome != deploy.OutcomeSucceeded {
			t.Errorf("the running deploy: got %s (%s), want succeeded", rec.Outcome, rec.Error)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the running deploy did not finish")
	}
	if r, lout, _ := f.do("bob", "deploy web 2"); !r.Failed || !strings.Contains(lout.last(), "db maintenance") {
		t.Errorf("the next deploy: got failed=%v %q, want refused by the lock", r.Failed, lout.last())
	}
	// Lock scopes: a lock on api does not stop web; the global one does.
	f.do("ana", "unlock deploys web prod")
	f.do("ana", "lock deploys api staging tests flaky")
	if r, lout, _ := f.do("bob", "deploy web 2"); r.Failed {
		t.Errorf("deploy web under an api lock: %q", lout.last())
	}
	f.do("ana", "lock deploys everything is on fire")
	if r, lout, _ := f.do("bob", "deploy web 3"); !r.Failed || !strings.Contains(lout.last(), "everything is on fire") {
		t.Errorf("deploy under the global lock: got %v %q", r.Failed, lout.last())
	}
	// Timed locks expire.
	f.do("ana", "unlock deploys")
	f.do("ana", "lock deploys web for 30m release party")
	if r, _, _ := f.do("bob", "deploy web 3"); !r.Failed {
		t.Error("deploy under a timed lock went ahead")
	}
	f.clock.Set(f.clock.Now().Add(31 * time.Minute))
	if r, lout, _ := f.do("bob", "deploy web 3"); r.Failed {
		t.Errorf("deploy after the lock expired: %q", lout.last())
	}
}

// TestForgetRemovedUsers: the grants and check-ins of a user no longer in
// the config are deleted, each audited, so that a later user given the
// same name inherits none of them; those of configured users stay. So are
// the grants of a role no longer in the config.
func TestForgetRemovedUsers(t *testing.T) {
	f := newServiceFixture(t) // users ana, bob and carl
	ctx := context.Background()
	// oncall is a role no longer in the config: its grant to carl goes,
	// or a later role of that name would be carl's at once.
	for _, g := range []acl.Grant{{User: "dave", Role: "admin", GrantedBy: "ana"}, {User: "carl", Role: "deployer", App: "web", GrantedBy: "ana"},
		{User: "carl", Role: "oncall", GrantedBy: "ana"}} {
		if err := f.store.PutGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"dave", "ana"} {
		if err := f.store.CheckIn(ctx, u, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []deploy.Lock{{App: "web", Owner: "dave", Reason: "db move"}, {Owner: "ana", Reason: "freeze"}} {
		l.Created = time.Now()
		if err := f.store.PutLock(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.ForgetRemovedUsers(ctx); err != nil {
		t.Fatal(err)
	}
	grants, err := f.store.Grants(ctx)
	if err != nil || len(grants) != 1 || grants[0].User != "carl" || grants[0].Role != "deployer" {
		t.Errorf("grants left: %+v, %v; want carl's deployer only", grants, err)
	}
	present, err := f.store.Present(ctx)
	if _, dave := present["dave"]; err != nil || dave || len(present) != 1 {
		t.Errorf("check-ins left: %v, %v; want ana's only", present, err)
	}
	// dave's lock stays in force, held by the bot: nobody passes it, a
	// later dave included, until someone unlocks it.
	locks, err := f.store.Locks(ctx)
	owners := map[string]string{}
	for _, l := range locks {
		owners[l.Scope()] = l.Owner + ": " + l.Reason
	}
	if want := map[string]string{"web": "switchman: db move (locked by dave, who is no longer in the config)", "all deploys": "ana: freeze"}; err != nil || !maps.Equal(owners, want) {
		t.Errorf("locks: %v, %v; want %v", owners, err, want)
	}
	entries, err := f.store.Audit(ctx, audit.Query{Limit: 10})
	var said []string
	for _, e := range entries {
		said = append(said, e.User+": "+e.Command)
	}
	for _, want := range []string{
		"switchman: runtime grant of role admin on every app to dave (granted by ana) removed: dave is no longer in the config",
		"switchman: admin check-in of dave removed: dave is no longer in the config",
		"switchman: ownership of the lock on web removed: dave is no longer in the config",
		"switchman: runtime grant of role oncall on every app to carl (granted by ana) removed: role oncall is no longer in the config",
	} {
		if err != nil || !slices.Contains(said, want) {
			t.Errorf("audit %q, %v; want %q", said, err, want)
		}
	}
}

// startRacingStore runs between once, after the first read of the
// check-ins (or, with afterGrants, of the grants) and before whatever
// follows it.
type startRacingStore struct {
	*embedded.Store
	once        sync.Once
	afterGrants bool
	between     func(ctx context.Context, s *embedded.Store) error
}

func (s *startRacingStore) CheckIns(ctx context.Context) (map[string]acl.CheckIn, error) {
	present, err := s.Store.CheckIns(ctx)
	if err == nil && !s.afterGrants {
		s.once.Do(func() { err = s.between(ctx, s.Store) })
	}
	return present, err
}

func (s *startRacingStore) Grants(ctx context.Context) ([]acl.Grant, error) {
	grants, err := s.Store.Grants(ctx)
	if err == nil && s.afterGrants {
		s.once.Do(func() { err = s.between(ctx, s.Store) })
	}
	return grants, err
}

// forgetRacing runs afterGrants once the grants are read and afterLocks
// once the locks are, and fails ReplaceLock with replaceErr, after
// applying it (a write whose reply was lost), when that is set.
type forgetRacing struct {
	*embedded.Store
	afterGrants, afterLocks func(ctx context.Context, s *embedded.Store) error
	replaceErr              error
}

func (s *forgetRacing) Grants(ctx context.Context) ([]acl.Grant, error) {
	grants, err := s.Store.Grants(ctx)
	if err == nil && s.afterGrants != nil {
		err = s.afterGrants(ctx, s.Store)
		s.afterGrants = nil
	}
	return grants, err
}

func (s *forgetRacing) Locks(ctx context.Context) ([]deploy.Lock, error) {
	locks, err := s.Store.Locks(ctx)
	if err == nil && s.afterLocks != nil {
		err = s.afterLocks(ctx, s.Store)
		s.afterLocks = nil
	}
	return locks, err
}

func (s *forgetRacing) ReplaceLock(ctx context.Context, prev *deploy.Lock, next deploy.Lock) (*deploy.Lock, bool, error) {
	cur, ok, err := s.Store.ReplaceLock(ctx, prev, next)
	if err == nil && s.replaceErr != nil {
		return nil, false, s.replaceErr
	}
	return cur, ok, err
}

// TestForgetRemovedUsersAuditsWhatHappened: the start's removals of a
// removed user's grant and lock are audited once the store has answered,
// saying what happened. An entry written before the write said the grant
// was removed when it had gone meanwhile, and the lock passed to the bot
// when a lock set since stood, or the write failed.
func TestForgetRemovedUsersAuditsWhatHappened(t *testing.T) {
	grant := "runtime grant of role admin on every app to dave (granted by ana) %s: dave is no longer in the config"
	lock := "ownership of the lock on web %s: dave is no longer in the config"
	lost := errs.Wrap(errs.Unavailable, errors.New("redis at 127.0.0.1:6379: i/o timeout"), deploy.StoreUnreachable)
	relock := func(ctx context.Context, s *embedded.Store) error {
		if _, err := s.DeleteLock(ctx, "web", ""); err != nil {
			return err
		}
		return s.PutLock(ctx, deploy.Lock{App: "web", Owner: "ana", Reason: "freeze", Created: time.Now()})
	}
	for _, tc := range []struct {
		name string
		st   *forgetRacing
		// said, decision and reason (its start) of the entry whose
		// command starts as said's first word.
		said     string
		decision audit.Decision
		reason   string
		failed   bool // ForgetRemovedUsers returns an error
	}{
		{name: "grant removed", st: &forgetRacing{},
			said: fmt.Sprintf(grant, "removed"), decision: audit.Event},
		{name: "grant revoked meanwhile", st: &forgetRacing{afterGrants: func(ctx context.Context, s *embedded.Store) error {
			_, err := s.DeleteGrant(ctx, "dave", "admin", "", "")
			return err
		}}, said: fmt.Sprintf(grant, "not removed"), decision: audit.Event, reason: "it was gone by then (revoked, or expired)"},
		{name: "lock passed", st: &forgetRacing{},
			said: fmt.Sprintf(lock, "removed"), decision: audit.Event},
		{name: "lock replaced meanwhile", st: &forgetRacing{afterLocks: relock},
			said: fmt.Sprintf(lock, "not removed"), decision: audit.Event, reason: "the lock changed since it was read, and stands: locked by ana since "},
		{name: "lock lifted meanwhile", st: &forgetRacing{afterLocks: func(ctx context.Context, s *embedded.Store) error {
			_, err := s.DeleteLock(ctx, "web", "")
			return err
		}}, said: fmt.Sprintf(lock, "not removed"), decision: audit.Event, reason: "the lock was lifted by then"},
		{name: "lock pass reply lost", st: &forgetRacing{replaceErr: lost},
			said: fmt.Sprintf(lock, "may or may not have been removed"), decision: audit.Unknown, reason: "the state store failed to confirm the write (state store unreachable)", failed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixture(t) // users ana, bob and carl
			ctx := context.Background()
			if err := f.store.PutGrant(ctx, acl.Grant{User: "dave", Role: "admin", GrantedBy: "ana", Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := f.store.PutLock(ctx, deploy.Lock{App: "web", Owner: "dave", Reason: "db move", Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			tc.st.Store = f.store
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: tc.st, Policy: f.policy})
			if err := svc.ForgetRemovedUsers(ctx); (err != nil) != tc.failed {
				t.Fatalf("ForgetRemovedUsers: got %v, want an error: %v", err, tc.failed)
			}
			entries, err := f.store.Audit(ctx, audit.Query{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			subject, _, _ := strings.Cut(tc.said, " dave")
			subject, _, _ = strings.Cut(subject, " web")
			var said []audit.Entry
			for _, e := range audit.Fold(entries) {
				if strings.HasPrefix(e.Command, subject) {
					said = append(said, e)
				}
			}
			if len(said) != 1 || said[0].Command != tc.said || said[0].Decision != tc.decision || !strings.HasPrefix(said[0].Reason, tc.reason) || said[0].Intent == 0 {
				t.Errorf("audit: got %+v, want one entry %s %q, reason %q…, closing its pending entry", said, tc.decision, tc.said, tc.reason)
			}
		})
	}
}

// checkOutIfFails is a state store whose CheckOutIf fails with err,
// after ending the check-in when applied (a write whose reply was lost).
type checkOutIfFails struct {
	commands.Store
	applied bool
	err     error
}

func (s *checkOutIfFails) CheckOutIf(ctx context.Context, user string, prev time.Time) (time.Time, bool, error) {
	if s.applied {
		if _, _, err := s.Store.CheckOutIf(ctx, user, prev); err != nil {
			return time.Time{}, false, err
		}
	}
	return time.Time{}, false, s.err
}

// TestForgetRemovedUsersEndsCheckInsOfFormerAdmins: at start, the check-in
// of a user the config still names but who is no admin by it nor by a
// grant in force (their admin taken out of the config) ends: hidden from
// admins, it counted them around the moment they became admin again.
// That of an admin, by the config or a grant, stays, as does one made
// anew, under an admin granted meanwhile (by another replica), while the
// check-ins and grants are read or before the end. The audit log says
// what happened, once the write has answered: an entry written before
// it said the check-in ended when it was left, or when the write failed.
func TestForgetRemovedUsersEndsCheckInsOfFormerAdmins(t *testing.T) {
	why := "%s: bob is no longer an admin, by the config or a runtime grant"
	lost := errs.Wrap(errs.Unavailable, errors.New("redis at 127.0.0.1:6379: i/o timeout"), deploy.StoreUnreachable)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	notRun := deploy.StoreNotRun(ended)
	for _, tc := range []struct {
		name        string
		user        string // checked in for an hour; ana is the config's admin, bob a deployer
		grant       string // role runtime-granted to user, if any
		between     time.Duration
		away        bool // user checks out between, instead
		afterGrants bool // between runs after the grants are read, not the check-ins
		fail        *checkOutIfFails
		ended       bool
		// said is the audit entry's command, "" for none; decision and
		// reason (its start) the rest of it.
		said, reason string
		decision     audit.Decision
	}{
		{name: "admin by the config", user: "ana"},
		{name: "no longer admin by the config", user: "bob", ended: true,
			said: fmt.Sprintf(why, "admin check-in of bob ended"), decision: audit.Event},
		{name: "admin by a grant", user: "carl", grant: "admin"},
		{name: "grant that makes no admin", user: "carl", grant: "deployer", ended: true,
			said: "admin check-in of carl ended: carl is no longer an admin, by the config or a runtime grant", decision: audit.Event},
		{name: "made admin and checked in anew after the check-ins are read", user: "bob", between: 2 * time.Hour},
		{name: "made admin and checked in anew after the grants are read", user: "bob", between: 2 * time.Hour, afterGrants: true,
			said: fmt.Sprintf(why, "admin check-in of bob not ended"), decision: audit.Event, reason: "it changed since it was read: a check-in until "},
		{name: "checked out after the reads", user: "bob", away: true, afterGrants: true, ended: true,
			said: fmt.Sprintf(why, "admin check-in of bob not ended"), decision: audit.Event, reason: "it had ended by then (an away, or its end reached)"},
		{name: "reply lost", user: "bob", fail: &checkOutIfFails{applied: true, err: lost}, ended: true,
			said: fmt.Sprintf(why, "admin check-in of bob may or may not have been ended"), decision: audit.Unknown, reason: "the state store failed to confirm the write (state store unreachable)"},
		{name: "not written", user: "bob", fail: &checkOutIfFails{err: notRun},
			said: fmt.Sprintf(why, "admin check-in of bob not ended"), decision: audit.Event, reason: "the state store failed (state store unreachable); nothing was changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixture(t) // users ana, bob and carl
			ctx := context.Background()
			if tc.grant != "" {
				if err := f.store.PutGrant(ctx, acl.Grant{User: tc.user, Role: tc.grant, GrantedBy: "ana", Created: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.store.CheckIn(ctx, tc.user, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			var anew time.Time
			racing := &startRacingStore{Store: f.store, afterGrants: tc.afterGrants, between: func(ctx context.Context, s *embedded.Store) error {
				if tc.away {
					return s.CheckOut(ctx, tc.user)
				}
				if tc.between == 0 {
					return nil
				}
				if err := s.PutGrant(ctx, acl.Grant{User: tc.user, Role: "admin", GrantedBy: "ana", Created: time.Now()}); err != nil {
					return err
				}
				anew = time.Now().Add(tc.between)
				return s.CheckIn(ctx, tc.user, anew)
			}}
			var st commands.Store = racing
			if tc.fail != nil {
				tc.fail.Store = racing
				st = tc.fail
			}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
			if err := svc.ForgetRemovedUsers(ctx); (err != nil) != (tc.fail != nil) {
				t.Fatalf("ForgetRemovedUsers: got %v, want an error: %v", err, tc.fail != nil)
			}
			present, err := f.store.Present(ctx)
			until, in := present[tc.user]
			if err != nil || in == tc.ended {
				t.Errorf("%s checked in: got %v, %v; want %v", tc.user, in, err, !tc.ended)
			}
			if !anew.IsZero() && !until.Equal(anew) {
				t.Errorf("%s's check-in ends at %v; want %v, as made anew", tc.user, until, anew)
			}
			entries, err := f.store.Audit(ctx, audit.Query{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var said []audit.Entry
			for _, e := range audit.Fold(entries) {
				if e.User == config.BotUser && e.Action == "away" {
					said = append(said, e)
				}
			}
			switch {
			case tc.said == "" && len(said) != 0:
				t.Errorf("audit: got %+v, want no entry", said)
			case tc.said == "":
			case len(said) != 1 || said[0].Command != tc.said || said[0].Decision != tc.decision || !strings.HasPrefix(said[0].Reason, tc.reason) || said[0].Intent == 0:
				t.Errorf("audit: got %+v, want one entry %s %q, reason %q…, closing its pending entry", said, tc.decision, tc.said, tc.reason)
			}
		})
	}
}

// TestAwayWithoutCheckIn: away ends a check-in; from anyone not checked
// in (a viewer, a user from another workspace) it changes nothing and
// announces nothing to the channel.
func TestAwayWithoutCheckIn(t *testing.T) {
	tests := []struct {
		name, user string
		checkIn    bool
		public     bool
		reply      string
	}{
		{"checked in", "ana", true, true, "ana is away"},
		{"admin not checked in", "ana", false, false, "ana is not checked in"},
		{"viewer", "slack:U0NOTUSER", false, false, "slack:U0NOTUSER is not checked in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			if tt.checkIn {
				if res, out, _ := f.do(tt.user, "here"); res.Failed {
					t.Fatalf("here: got %q", out.last())
				}
			}
			res, out, _ := f.do(tt.user, "away")
			m := out.replies[len(out.replies)-1]
			if res.Failed || m.Public != tt.public || !strings.Contains(chat.Text(m), tt.reply) {
				t.Errorf("got failed %v, public %v, reply %q; want not failed, public %v, a reply containing %q", res.Failed, m.Public, chat.Text(m), tt.public, tt.reply)
			}
		})
	}
}

// TestForgetRemovedUsersLeavesALockTakenMeanwhile: the lock of a removed
// user goes to the bot only in place of the lock read. One set in its
// place since (its owner's lock lifted, another taken) is not replaced.
func TestForgetRemovedUsersLeavesALockTakenMeanwhile(t *testing.T) {
	f := newServiceFixture(t) // users ana, bob and carl
	ctx := context.Background()
	daves := deploy.Lock{App: "web", Owner: "dave", Reason: "db move", Created: time.Now()}
	if err := f.store.PutLock(ctx, daves); err != nil {
		t.Fatal(err)
	}
	anas := deploy.Lock{App: "web", Owner: "ana", Reason: "incident 9", Created: time.Now()}
	st := &racingStore{Store: f.store, between: func(ctx context.Context, s *embedded.Store) error {
		if _, err := s.DeleteLock(ctx, "web", ""); err != nil {
			return err
		}
		return s.PutLock(ctx, anas)
	}}
	svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
	if err := svc.ForgetRemovedUsers(ctx); err != nil {
		t.Fatal(err)
	}
	locks, err := f.store.Locks(ctx)
	if err != nil || len(locks) != 1 || !locks[0].Equal(anas) {
		t.Errorf("locks: got %+v, %v; want ana's alone, as she set it", locks, err)
	}
}

// TestDryRunOfAForcedDeploy: the dry run of a deploy with --force outside
// its window says what that deploy would meet: forced past the window, or
// refused for the reason the deploy is (no override, no admin around). It
// is then checked against the deploy itself.
func TestDryRunOfAForcedDeploy(t *testing.T) {
	tests := []struct {
		name    string
		user    string
		present bool   // ana is around
		dry     string // in the dry run's reply
		refused bool   // the forced deploy is refused
	}{
		{name: "an admin forces it", user: "ana", dry: "ana would force this deploy outside its window", refused: false},
		{name: "an override holder with an admin around", user: "dana", present: true, dry: "dana would force this deploy outside its window", refused: false},
		{name: "an override holder, nobody around", user: "dana", dry: "a deploy now would be refused: deploys to web/prod are closed now", refused: true},
		{name: "no override", user: "bob", dry: "a deploy now would be refused: bob may not override web/prod", refused: true},
		{name: "no override says why the window is closed", user: "bob", dry: "deploys to web/prod are closed now: outside the deploy window (Mon-Thu 09:00-16:00 Europe/Warsaw); the next window opens Tue 2026-11-24 09:00 CET", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			warsaw, _ := time.LoadLocation("Europe/Warsaw")
			f.clock.Set(time.Date(2026, 11, 23, 17, 0, 0, 0, warsaw)) // Monday, after the window
			if tt.present {
				f.presence.set(map[string]bool{"ana": true}, nil)
			}
			res, out, _ := f.do(tt.user, `deploy web 1 --dry-run --force "INC-42"`)
			if res.Failed || !strings.Contains(out.last(), tt.dry) {
				t.Errorf("dry run: got failed=%v %q, want it to say %q", res.Failed, out.last(), tt.dry)
			}
			res, out, _ = f.do(tt.user, `deploy web 1 --force "INC-42"`)
			if res.Failed != tt.refused {
				t.Errorf("deploy: got failed=%v %q, want failed=%v as the dry run said", res.Failed, out.last(), tt.refused)
			}
		})
	}
}

// TestDryRunForceInAnOpenWindow: the dry run of a deploy with --force
// while deploys are open says, as the deploy does, that the --force is
// not needed and not used; it said nothing of it, and the deploy it
// planned passed for an override.
func TestDryRunForceInAnOpenWindow(t *testing.T) {
	f := newGuardFixture(t, "")
	f.presence.set(map[string]bool{"ana": true}, nil) // Monday 10:00, in the window, an admin around
	tests := []struct {
		name, user, text, want string
	}{
		{"an admin, in the window", "ana", `deploy web 1 --dry-run --force "INC-42"`,
			`deploys to web/prod are open now, so --force "INC-42" was not needed and not used: this deploy is no override`},
		{"an env without a window", "ana", `deploy api 1 to staging --dry-run --force "INC-43"`,
			`deploys to api/staging are open now, so --force "INC-43" was not needed and not used: this deploy is no override`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out, rec := f.do(tt.user, tt.text)
			if res.Failed || rec != nil {
				t.Fatalf("%q: got failed=%v, record %v, reply %q; want a dry run", tt.text, res.Failed, rec, out.last())
			}
			if got := out.last(); !strings.Contains(got, tt.want) || strings.Contains(got, "would force") {
				t.Errorf("dry run: got %q, want %q and no override", got, tt.want)
			}
		})
	}
}

// TestGrantAuditSaysUntil: a grant's audit entry says until when it
// holds, in the zone and words of the grant's reply (without it, the
// audit log told a grant for an hour from one until revoked), and the
// authority the grant was made under, as every allowed entry does.
func TestGrantAuditSaysUntil(t *testing.T) {
	f := newGuardFixture(t, "")
	for _, tt := range []struct {
		text, reply, reason string
	}{
		{"grant @carl deployer api staging for 1h", "until 2026-11-23 11:00:00 CET", "granted carl role deployer on api/staging, until 2026-11-23 11:00:00 CET; role admin (config)"},
		{"grant @bob deployer api", "until revoked", "granted bob role deployer on api, until revoked; role admin (config)"},
	} {
		t.Run(tt.text, func(t *testing.T) {
			res, out, _ := f.do("ana", tt.text)
			if res.Failed || !strings.Contains(out.last(), tt.reply) {
				t.Fatalf("grant: got failed=%v %q, want it granted %s", res.Failed, out.last(), tt.reply)
			}
			entries, err := f.store.Audit(t.Context(), audit.Query{Limit: 1})
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit: got %v, %v; want the grant's entry", entries, err)
			}
			if got := entries[0].Reason; got != tt.reason {
				t.Errorf("audit reason: got %q, want %q", got, tt.reason)
			}
		})
	}
}

// TestCheckInEndsWithATimeBoundAdmin: an admin only by a runtime grant
// is checked in until that grant ends at the latest, and is told so: a
// check-in past it promised an admin around when none would count.
func TestCheckInEndsWithATimeBoundAdmin(t *testing.T) {
	tests := []struct {
		name, grant, here string
		want              string
		until             time.Time
	}{
		{"past the grant", "grant @carl admin for 1h", "here for 4h",
			"carl is around until 2026-11-23 11:00:00 CET, when their admin (a runtime grant) ends", time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		{"default past the grant", "grant @carl admin for 2h", "here",
			"carl is around until 2026-11-23 12:00:00 CET, when their admin (a runtime grant) ends", time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)},
		{"within the grant", "grant @carl admin for 8h", "here for 2h",
			"carl is around until 2026-11-23 12:00:00 CET; deploys", time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)},
		{"grant until revoked", "grant @carl admin", "here for 2h",
			"carl is around until 2026-11-23 12:00:00 CET; deploys", time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			if res, out, _ := f.do("ana", tt.grant); res.Failed {
				t.Fatalf("%s: %s", tt.grant, out.last())
			}
			res, out, _ := f.do("carl", tt.here)
			if res.Failed || !strings.Contains(out.last(), tt.want) {
				t.Fatalf("%s: got %q (failed %v), want %q", tt.here, out.last(), res.Failed, tt.want)
			}
			present, err := f.store.Present(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := present["carl"]; !got.Equal(tt.until) {
				t.Errorf("check-in of carl: got until %s, want %s", got.UTC(), tt.until)
			}
		})
	}
}

// TestGrantSaysWhatItReplaced: a grant of a role a user holds already on
// the same scope replaces it, expiry and all; the reply and the audit
// entry say which grant went, so that a grant for an hour does not end
// one that held until revoked unseen.
func TestGrantSaysWhatItReplaced(t *testing.T) {
	tests := []struct {
		name, first, second string
		want                string // "" when nothing was replaced
	}{
		{"until revoked, then for 2h", "grant @carl deployer web prod", "grant @carl deployer web prod for 2h",
			"replaces the earlier grant by ana, until revoked"},
		{"for 1h, then until revoked", "grant @carl deployer web prod for 1h", "grant @carl deployer web prod",
			"replaces the earlier grant by ana, until 2026-11-23 11:00:00 CET"},
		{"another scope", "grant @carl deployer web", "grant @carl deployer web prod for 2h", ""},
		{"another role", "grant @carl oncall web prod", "grant @carl deployer web prod for 2h", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			if res, out, _ := f.do("ana", tt.first); res.Failed {
				t.Fatalf("%s: %s", tt.first, out.last())
			}
			res, out, _ := f.do("ana", tt.second)
			if res.Failed {
				t.Fatalf("%s: %s", tt.second, out.last())
			}
			entries, err := f.store.Audit(t.Context(), audit.Query{Limit: 1})
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit: %v, %v", entries, err)
			}
			if tt.want == "" {
				if strings.Contains(out.last(), "replaces") || strings.Contains(entries[0].Reason, "replaces") {
					t.Errorf("got reply %q, audit %q; want no grant named replaced", out.last(), entries[0].Reason)
				}
				return
			}
			if !strings.Contains(out.last(), tt.want) {
				t.Errorf("reply: got %q, want it to contain %q", out.last(), tt.want)
			}
			if !strings.HasSuffix(entries[0].Reason, "; "+tt.want) {
				t.Errorf("audit reason: got %q, want it to end with %q", entries[0].Reason, tt.want)
			}
		})
	}
}

// expiringGrants is the store with the clock moved on before the second
// read of the grants: a runtime grant ends while the command runs,
// between its permission check and what it does next.
type expiringGrants struct {
	*embedded.Store
	clock *testclock.Clock
	by    time.Duration
	mu    sync.Mutex
	reads int
}

func (s *expiringGrants) Grants(ctx context.Context) ([]acl.Grant, error) {
	s.mu.Lock()
	if s.reads++; s.reads == 2 {
		s.clock.Advance(s.by)
	}
	s.mu.Unlock()
	return s.Store.Grants(ctx)
}

// TestAdminGrantEndingMidCommand: an admin by a runtime grant that ends
// as their grant command runs, after its permission was checked, does not
// give a grant until revoked: once theirs has ended they are admin until
// then, not without end.
func TestAdminGrantEndingMidCommand(t *testing.T) {
	f := newGuardFixture(t, "")
	if res, out, _ := f.do("ana", "grant @carl admin for 1h"); res.Failed {
		t.Fatalf("grant: %s", out.last())
	}
	f.clock.Advance(time.Hour - time.Second)
	st := &expiringGrants{Store: f.store, clock: f.clock, by: time.Second}
	svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Now: f.clock.Now})
	out := newRecorder()
	res := svc.Handle(t.Context(), commands.Request{User: "carl", Platform: "test", Channel: "C1", Text: "grant @dana deployer"}, out)
	if !res.Failed || !strings.Contains(out.last(), "may not grant beyond it") {
		t.Errorf("grant as the granter's admin ends: got failed %v, %q; want it refused", res.Failed, out.last())
	}
	grants, err := f.store.Grants(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if g.User == "dana" {
			t.Errorf("grants: got %+v, want none to dana", g)
		}
	}
}

// TestRevokeSaysWhatItTookBack: the reply and the audit entry of a
// revoke name the grant taken back, who gave it and until when: read
// alone, the entry said who revoked, not what had been given.
func TestRevokeSaysWhatItTookBack(t *testing.T) {
	tests := []struct {
		grant, want string
	}{
		{"grant @carl deployer web prod", "was granted by ana, until revoked"},
		{"grant @carl deployer web prod for 2h", "was granted by ana, until 2026-11-23 12:00:00 CET"},
	}
	for _, tt := range tests {
		t.Run(tt.grant, func(t *testing.T) {
			f := newGuardFixture(t, "")
			if res, out, _ := f.do("ana", tt.grant); res.Failed {
				t.Fatalf("%s: %s", tt.grant, out.last())
			}
			res, out, _ := f.do("ana", "revoke @carl deployer web prod")
			if res.Failed || !strings.Contains(out.last(), "(granted by ana, "+strings.TrimPrefix(tt.want, "was granted by ana, ")+")") {
				t.Errorf("revoke: got %q (failed %v), want it to name the grant", out.last(), res.Failed)
			}
			entries, err := f.store.Audit(t.Context(), audit.Query{Limit: 1})
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit: %v, %v", entries, err)
			}
			if !strings.HasSuffix(entries[0].Reason, "; "+tt.want) {
				t.Errorf("audit reason: got %q, want it to end with %q", entries[0].Reason, tt.want)
			}
		})
	}
}

// TestForceInAnOpenWindow: a --force sent while deploys are open is not
// needed and not used. The reply and the audit entry say so: the entry's
// command shows --force, and read alone it passed for an override.
// Nothing announces, marks or records an override.
func TestForceInAnOpenWindow(t *testing.T) {
	f := newGuardFixture(t, "")
	f.presence.set(map[string]bool{"ana": true}, nil) // Monday 10:00, in the window, an admin around
	tests := []struct {
		name, user, text, want string
	}{
		{"an admin, in the window", "ana", `deploy web 1 --force "INC-42"`,
			`deploys to web/prod are open now, so --force "INC-42" was not needed and not used: this deploy is no override`},
		{"an override holder, in the window", "dana", `deploy web 2 --force "hotfix"`,
			`deploys to web/prod are open now, so --force "hotfix" was not needed and not used: this deploy is no override`},
		{"an env without a window", "ana", `deploy api 1 to staging --force "INC-43"`,
			`deploys to api/staging are open now, so --force "INC-43" was not needed and not used: this deploy is no override`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out, rec := f.do(tt.user, tt.text)
			if res.Failed || rec == nil {
				t.Fatalf("%q: got failed=%v, reply %q; want a deploy", tt.text, res.Failed, out.last())
			}
			if rec.Forced != "" {
				t.Errorf("deploy record: got Forced %q, want none", rec.Forced)
			}
			m := out.replies[0]
			if m.Public || m.Level != chat.Info {
				t.Errorf("reply: got public=%v, level %v; want the requester's, info, as a deploy that is no override", m.Public, m.Level)
			}
			if got := strings.Join(m.Lines, "\n"); !strings.Contains(got, tt.want) || strings.Contains(got, "forced this deploy") {
				t.Errorf("reply lines: got %q, want %q and no override", got, tt.want)
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, e := range entries {
				if e.DeployID != rec.ID || e.Decision != audit.Allowed {
					continue
				}
				found = true
				if !strings.Contains(e.Reason, tt.want) || strings.Contains(e.Reason, "forced this deploy") {
					t.Errorf("audit entry: got reason %q, want %q and no override", e.Reason, tt.want)
				}
			}
			if !found {
				t.Errorf("audit: no allowed entry of deploy %s in %+v", rec.ID, entries)
			}
		})
	}
}

// grantsGoAway is a store whose runtime grants can be read the first
// reads times only, as a store that goes away while a command runs.
type grantsGoAway struct {
	*embedded.Store
	mu    sync.Mutex
	reads int
}

func (s *grantsGoAway) Grants(ctx context.Context) ([]acl.Grant, error) {
	s.mu.Lock()
	ok := s.reads > 0
	s.reads--
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("dial tcp 127.0.0.1:6379: connection refused")
	}
	return s.Store.Grants(ctx)
}

// TestClosedWindowNamesAdminsByGrant: a closed window's refusal names
// every admin who could force the deploy, those made admins of
// everything by a runtime grant in force too, and not one whose grant
// has expired. Grants that cannot be read are said to be, rather than the
// list shown as whole.
func TestClosedWindowNamesAdminsByGrant(t *testing.T) {
	f := newGuardFixture(t, "")
	for _, g := range []string{"grant @carl admin", "grant @dana admin for 1h"} {
		if res, out, _ := f.do("ana", g); res.Failed {
			t.Fatalf("%s: %s", g, out.last())
		}
	}
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	f.clock.Set(time.Date(2026, 11, 23, 17, 0, 0, 0, warsaw)) // Monday, past the window; dana's grant has expired
	const closed = `outside the deploy window (Mon-Thu 09:00-16:00 Europe/Warsaw); the next window opens Tue 2026-11-24 09:00 CET; no admin is around (an admin checks in with /here)`
	tests := []struct {
		name  string
		reads int // grants read before they cannot be
		want  string
	}{
		{"grants read", 1 << 20, closed + `; admins who can force it (--force "reason"): ana, carl`},
		{"grants unreadable", 1, closed + `; admins by a runtime grant unknown (the runtime grants could not be read: state store unreachable), counted as away; admins who can force it (--force "reason"): ana; admins by a runtime grant, who could force it too, are not named: the runtime grants could not be read (state store unreachable)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &grantsGoAway{Store: f.store, reads: tt.reads}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			out := newRecorder()
			res := svc.Handle(context.Background(), commands.Request{User: "bob", Platform: "test", Channel: "C1", Text: "deploy web 1"}, out)
			if !res.Failed {
				t.Fatalf("deploy: got %q, want it refused", out.last())
			}
			if got := out.last(); !strings.Contains(got, tt.want) {
				t.Errorf("refusal: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAdminsByGrantUnreadable: where the runtime grants cannot be read,
// an admin by a grant who is checked in is not known to be around, nor
// listed by admins: both say so, rather than "no admin is around", or
// a list of admins, read as the whole truth.
func TestAdminsByGrantUnreadable(t *testing.T) {
	f := newGuardFixture(t, "")
	if res, out, _ := f.do("ana", "grant @carl admin"); res.Failed {
		t.Fatalf("grant: %s", out.last())
	}
	if res, out, _ := f.do("carl", "here for 2h"); res.Failed {
		t.Fatalf("here: %s", out.last())
	}
	tests := []struct {
		name, user, text string
		reads            int // grants read before they cannot be
		want             string
	}{
		{"deploy", "bob", "deploy web 1", 1,
			"no admin is around (an admin checks in with /here); admins by a runtime grant unknown (the runtime grants could not be read: state store unreachable), counted as away"},
		{"admins", "bob", "admins", 0,
			"admins by a runtime grant are not listed: the runtime grants could not be read (state store unreachable)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &grantsGoAway{Store: f.store, reads: tt.reads}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			out := newRecorder()
			svc.Handle(context.Background(), commands.Request{User: tt.user, Platform: "test", Channel: "C1", Text: tt.text}, out)
			if got := out.last(); !strings.Contains(got, tt.want) {
				t.Errorf("reply: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRollbackPastAClosedWindowOffersNoForce: a rollback, by hand or
// automatic, never waits for the window, so what it says of a closed one
// names no admins who could force it past: there is nothing to force. It
// used to end "admins who can force it (--force "reason"): ana".
func TestRollbackPastAClosedWindowOffersNoForce(t *testing.T) {
	f := newGuardFixture(t, "")
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	for _, step := range []struct{ user, text string }{{"ana", "here for 2h"}, {"bob", "deploy web 1"}, {"bob", "deploy web 2"}} {
		if res, out, _ := f.do(step.user, step.text); res.Failed {
			t.Fatalf("%s %q failed: %s", step.user, step.text, out.last())
		}
	}
	f.clock.Set(time.Date(2026, 11, 23, 17, 0, 0, 0, warsaw)) // after the window

	const closed = "deploys to web/prod are closed now: outside the deploy window (Mon-Thu 09:00-16:00 Europe/Warsaw); the next window opens Tue 2026-11-24 09:00 CET"
	t.Run("automatic", func(t *testing.T) {
		passes := f.svc.RollbackPasses(context.Background(), "web", "prod")
		if len(passes) != 1 || !strings.HasPrefix(passes[0], closed) || strings.Contains(passes[0], "--force") {
			t.Errorf("passes: got %q, want %q and no --force", passes, closed)
		}
	})
	t.Run("by hand", func(t *testing.T) {
		res, out, _ := f.do("bob", "rollback web")
		if res.Failed {
			t.Fatalf("rollback failed: %s", out.last())
		}
		var text []string
		for _, m := range out.replies {
			text = append(text, chat.Text(m))
		}
		all := strings.Join(text, "\n")
		if !strings.Contains(all, "rolling back although "+closed) || strings.Contains(all, "--force") {
			t.Errorf("replies:\n%s\nwant %q and no --force", all, "rolling back although "+closed)
		}
	})
}

// TestRollbackAuditsWhatItPasses: a rollback past a closed window and
// another's lock says so in its audit entry, as in its reply: the entry
// showed an allowed rollback and nothing of the freeze or the lock it
// went past.
func TestRollbackAuditsWhatItPasses(t *testing.T) {
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	tests := []struct {
		name  string
		setup []struct{ user, text string }
		at    time.Time
		want  []string
	}{
		{name: "open, unlocked", at: time.Date(2026, 11, 23, 11, 0, 0, 0, warsaw), want: []string{"role deployer (config)"}},
		{name: "closed window", at: time.Date(2026, 11, 23, 17, 0, 0, 0, warsaw),
			want: []string{"role deployer (config)", "rolling back although deploys to web/prod are closed now: outside the deploy window (Mon-Thu 09:00-16:00 Europe/Warsaw)"}},
		{name: "another's lock of the app", setup: []struct{ user, text string }{{"ana", "lock deploys web db move"}}, at: time.Date(2026, 11, 23, 11, 0, 0, 0, warsaw),
			want: []string{"role deployer (config)", "rolling back despite the lock: locked by ana since", "db move"}},
		{name: "freeze and a lock of everything", setup: []struct{ user, text string }{{"ana", "lock deploys release freeze"}}, at: time.Date(2026, 12, 21, 10, 0, 0, 0, warsaw),
			want: []string{"rolling back although deploys to web/prod are closed now: frozen: year-end freeze", "rolling back despite the lock: locked by ana since", "release freeze"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			for _, step := range append([]struct{ user, text string }{{"ana", "here for 2h"}, {"bob", "deploy web 1"}, {"bob", "deploy web 2"}}, tt.setup...) {
				if res, out, _ := f.do(step.user, step.text); res.Failed {
					t.Fatalf("%s %q failed: %s", step.user, step.text, out.last())
				}
			}
			f.clock.Set(tt.at)
			res, out, _ := f.do("bob", "rollback web")
			if res.Failed || res.DeployID == "" {
				t.Fatalf("rollback: failed %v, %q; want it to go ahead", res.Failed, out.last())
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var reason string
			found := false
			for _, e := range entries {
				if e.Action == "rollback" && e.Decision == audit.Allowed && e.DeployID == res.DeployID {
					reason, found = e.Reason, true
				}
			}
			if !found {
				t.Fatalf("no allowed audit entry of rollback %s in %+v", res.DeployID, entries)
			}
			for _, w := range tt.want {
				if !strings.Contains(reason, w) {
					t.Errorf("audit reason %q; want it to contain %q", reason, w)
				}
			}
		})
	}
}

// TestForceByAnAdminWhoseGrantsCannotBeRead: where an admin must be
// around and none is, only an admin's --force goes through. When the
// runtime grants cannot be read as that is decided, the deploy is
// refused, nothing changed, for that: the refusal read as if the
// requester, an admin by a runtime grant, were no admin.
func TestForceByAnAdminWhoseGrantsCannotBeRead(t *testing.T) {
	const unreadable = "the runtime grants could not be read (state store unreachable); nothing was changed"
	tests := []struct {
		name, text string
		reads      int // grants read before they cannot be: the last is whether carl is an admin
	}{
		{"at the gate", `deploy web 1 --force "INC-9"`, 4},
		{"once the deploy holds its app+env", `deploy web 1 --force "INC-9"`, 7},
		{"dry run", `deploy web 1 --dry-run --force "INC-9"`, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			if res, out, _ := f.do("ana", "grant @carl admin"); res.Failed {
				t.Fatalf("grant: %s", out.last())
			}
			warsaw, _ := time.LoadLocation("Europe/Warsaw")
			f.clock.Set(time.Date(2026, 11, 23, 17, 0, 0, 0, warsaw)) // Monday, past the window, nobody around
			st := &grantsGoAway{Store: f.store, reads: tt.reads}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			out := newRecorder()
			res := svc.Handle(t.Context(), commands.Request{User: "carl", Platform: "test", Channel: "C1", Text: tt.text}, out)
			if !res.Failed || res.DeployID != "" || res.Code != errs.Unavailable {
				t.Fatalf("%s: got failed %v, code %q, deploy %q, %q; want it refused, unavailable", tt.text, res.Failed, res.Code, res.DeployID, out.last())
			}
			if got := out.last(); !strings.Contains(got, unreadable) || strings.Contains(got, forceNotAdmin) {
				t.Errorf("refusal: got %q, want %q and not %q", got, unreadable, forceNotAdmin)
			}
			if recs, err := f.store.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
				t.Errorf("records: got %d, %v; want none", len(recs), err)
			}
			// With the grants readable, carl's --force goes through.
			svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			out = newRecorder()
			if res := svc.Handle(t.Context(), commands.Request{User: "carl", Platform: "test", Channel: "C1", Text: tt.text}, out); res.Failed {
				t.Fatalf("%s with the grants readable: %q", tt.text, out.last())
			} else if res.DeployID != "" {
				<-out.finished
			}
		})
	}
}

// forceNotAdmin is the refusal of a --force that is not an admin's where
// an admin must be around.
const forceNotAdmin = "--force overrides the deploy window, not the need for an admin around"

// A check-in is an admin's: one left by a revoke counted its user around
// again, without a word from them, as soon as anyone granted the admin
// back.
func TestRevokeEndsTheCheckInOfAnAdminNoMore(t *testing.T) {
	tests := []struct {
		name    string
		revoke  string
		line    string // of the revoke's reply and audit entry; "" for none
		present bool   // carl around once admin is granted back
	}{
		{"the admin taken back", "revoke @carl admin", "carl is no admin now, so their check-in ended with the grant", false},
		{"another role taken back", "revoke @carl deployer web prod", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			for _, setup := range []struct{ user, text string }{
				{"ana", "grant @carl admin"},
				{"ana", "grant @carl deployer web prod"},
				{"carl", "here for 4h"},
			} {
				if res, out, _ := f.do(setup.user, setup.text); res.Failed {
					t.Fatalf("%q: %s", setup.text, out.last())
				}
			}
			res, out, _ := f.do("ana", tt.revoke)
			if res.Failed {
				t.Fatalf("%q: %s", tt.revoke, out.last())
			}
			if got := out.lastMessage().Lines; tt.line == "" && len(got) > 0 || tt.line != "" && !slices.Contains(got, tt.line) {
				t.Errorf("%q reply lines: got %q, want %q", tt.revoke, got, tt.line)
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || strings.Contains(entries[0].Reason, "check-in") != (tt.line != "") || tt.line != "" && !strings.HasSuffix(entries[0].Reason, "; "+tt.line) {
				t.Errorf("%q audit entry: got %+v, want its reason to end in %q", tt.revoke, entries, tt.line)
			}
			if res, out, _ := f.do("ana", "grant @carl admin for 1h"); res.Failed {
				t.Fatalf("grant back: %s", out.last())
			}
			_, out, _ = f.do("ana", "admins")
			want := "carl: away"
			if tt.present {
				// The grant back, shorter than the check-in, cut it short.
				want = "carl: here until 2026-11-23 11:00:00 CET (checked in)"
			}
			if !slices.Contains(out.lastMessage().Lines, want) {
				t.Errorf("admins once granted back: got %q, want a line %q", out.lastMessage().Lines, want)
			}
		})
	}
}

// admins names when a check-in stops counting: at its end, or at the end
// of the admin it was made under, when that comes first. A check-in
// outlives the admin when a shorter grant of it replaces the one it was
// made under, and admins named a time past which nobody counted it.
func TestAdminsSaysWhenACheckInStopsCounting(t *testing.T) {
	tests := []struct {
		name  string
		steps []string // as ana, but "here" as carl; "left for 4h" a check-in of carl's written to the store
		want  string
	}{
		{"admin until revoked", []string{"grant @carl admin", "here for 4h"},
			"carl: here until 2026-11-23 14:00:00 CET (checked in)"},
		{"check-in ends first", []string{"grant @carl admin for 3h", "here for 1h"},
			"carl: here until 2026-11-23 11:00:00 CET (checked in)"},
		{"admin replaced by a shorter grant", []string{"grant @carl admin", "here for 4h", "grant @carl admin for 1h"},
			"carl: here until 2026-11-23 11:00:00 CET (checked in)"},
		// A grant that could not read the check-in to cut it short
		// leaves it running past the admin.
		{"check-in left past the admin", []string{"grant @carl admin for 1h", "left for 4h"},
			"carl: here until 2026-11-23 11:00:00 CET (checked in), when their admin (a runtime grant) ends"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			for _, text := range tt.steps {
				if text == "left for 4h" {
					if err := f.store.CheckIn(t.Context(), "carl", f.clock.Now().Add(4*time.Hour)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				user := "ana"
				if strings.HasPrefix(text, "here") {
					user = "carl"
				}
				if res, out, _ := f.do(user, text); res.Failed {
					t.Fatalf("%q: %s", text, out.last())
				}
			}
			_, out, _ := f.do("bob", "admins")
			if got := out.lastMessage().Lines; !slices.Contains(got, tt.want) {
				t.Errorf("admins: got %q, want a line %q", got, tt.want)
			}
		})
	}
}

// TestAdminsShowsCheckInsThatDoNotCount: a check-in of a user who is no
// admin (their time-bound admin ended under a check-in a failed cut left
// running past it, a check-out that failed, a here another replica took
// under an older config) is listed by admins as not counted, and why:
// admins listed only admins, so it stayed stored out of sight, ready to
// count its user around again once they were an admin again.
func TestAdminsShowsCheckInsThatDoNotCount(t *testing.T) {
	ends := "it ends then, or when they send " + suggest.Command("away")
	tests := []struct {
		name   string
		grant  string        // by ana, first
		user   string        // checked in until 14:00, written to the store
		later  time.Duration // admins is asked this long after 10:00
		unread bool          // the runtime grants cannot be read
		want   string
	}{
		{name: "admin grant expired", grant: "grant @carl admin for 1h", user: "carl", later: 2 * time.Hour,
			want: "carl: checked in until 2026-11-23 14:00:00 CET, not counted: carl is no admin of every app and env, by the config or a runtime grant in force; " + ends},
		{name: "no admin", user: "bob",
			want: "bob: checked in until 2026-11-23 14:00:00 CET, not counted: bob is no admin of every app and env, by the config or a runtime grant in force; " + ends},
		{name: "admin on one app only", grant: "grant @carl admin web", user: "carl",
			want: "carl: checked in until 2026-11-23 14:00:00 CET, not counted: carl is no admin of every app and env, by the config or a runtime grant in force; " + ends},
		{name: "no longer in the config", user: "dave",
			want: "dave: checked in until 2026-11-23 14:00:00 CET, not counted: dave is not in the config; " + ends},
		{name: "grants unreadable", grant: "grant @carl admin", user: "carl", unread: true,
			want: "carl: checked in until 2026-11-23 14:00:00 CET, not counted: whether carl is an admin by a runtime grant is not known, and deploys count them away; " + ends},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			if tt.grant != "" {
				if res, out, _ := f.do("ana", tt.grant); res.Failed {
					t.Fatalf("%q: %s", tt.grant, out.last())
				}
			}
			if err := f.store.CheckIn(t.Context(), tt.user, f.clock.Now().Add(4*time.Hour)); err != nil {
				t.Fatal(err)
			}
			f.clock.Set(f.clock.Now().Add(tt.later))
			if tt.unread {
				f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: &grantsGoAway{Store: f.store}, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			}
			_, out, _ := f.do("bob", "admins")
			if got := out.lastMessage().Lines; !slices.Contains(got, tt.want) {
				t.Errorf("admins: got %q, want a line %q", got, tt.want)
			}
			// Shown, yet still not counted: a deploy needing an admin
			// present is refused (with the grants unreadable, once
			// bob's own grants are read).
			if tt.unread {
				f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: &grantsGoAway{Store: f.store, reads: 1}, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			}
			if res, out, _ := f.do("bob", "deploy web 1"); !res.Failed || !strings.Contains(out.last(), "no admin is around") {
				t.Errorf("deploy: got failed=%v %q, want refused as no admin is around", res.Failed, out.last())
			}
		})
	}
}

// A check-in counts its user around only while they are an admin: one a
// shorter grant of the admin left running past it counted them around
// again, without a word from them, as soon as anyone granted the admin
// back.
func TestGrantReplacementFitsTheCheckIn(t *testing.T) {
	tests := []struct {
		name    string
		grants  []string // by ana, before carl checks in for 4h
		replace string
		line    string // of the replacing grant's reply and audit entry; "" for none
		admins  string // carl's line of admins at 11:30, once admin is granted back
	}{
		{"admin shortened", []string{"grant @carl admin"}, "grant @carl admin for 1h",
			"carl's check-in now ends at 2026-11-23 11:00:00 CET, when their admin (a runtime grant) ends", "carl: away"},
		{"admin shortened, still past the check-in", []string{"grant @carl admin"}, "grant @carl admin for 5h",
			"", "carl: here until 2026-11-23 14:00:00 CET (checked in)"},
		{"admin lengthened", []string{"grant @carl admin for 4h"}, "grant @carl admin",
			"", "carl: here until 2026-11-23 14:00:00 CET (checked in)"},
		{"another role shortened", []string{"grant @carl admin", "grant @carl deployer web prod"}, "grant @carl deployer web prod for 1h",
			"", "carl: here until 2026-11-23 14:00:00 CET (checked in)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			for _, g := range tt.grants {
				if res, out, _ := f.do("ana", g); res.Failed {
					t.Fatalf("%q: %s", g, out.last())
				}
			}
			if res, out, _ := f.do("carl", "here for 4h"); res.Failed {
				t.Fatalf("here: %s", out.last())
			}
			res, out, _ := f.do("ana", tt.replace)
			if res.Failed {
				t.Fatalf("%q: %s", tt.replace, out.last())
			}
			lines := out.lastMessage().Lines
			if len(lines) == 0 || !strings.HasPrefix(lines[0], "replaces the earlier grant") {
				t.Fatalf("%q reply lines: got %q, want the grant it replaces first", tt.replace, lines)
			}
			if got := lines[1:]; tt.line == "" && len(got) > 0 || tt.line != "" && !slices.Equal(got, []string{tt.line}) {
				t.Errorf("%q reply lines past the first: got %q, want %q", tt.replace, got, tt.line)
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || strings.Contains(entries[0].Reason, "check-in") != (tt.line != "") || tt.line != "" && !strings.HasSuffix(entries[0].Reason, "; "+tt.line) {
				t.Errorf("%q audit entry: got %+v, want its reason to end in %q", tt.replace, entries, tt.line)
			}
			warsaw, _ := time.LoadLocation("Europe/Warsaw")
			f.clock.Set(time.Date(2026, 11, 23, 11, 30, 0, 0, warsaw))
			if res, out, _ := f.do("ana", "grant @carl admin"); res.Failed {
				t.Fatalf("grant back: %s", out.last())
			}
			_, out, _ = f.do("ana", "admins")
			if !slices.Contains(out.lastMessage().Lines, tt.admins) {
				t.Errorf("admins once granted back: got %q, want a line %q", out.lastMessage().Lines, tt.admins)
			}
		})
	}
}

// presenceGoesAway fails every read of the check-ins.
type presenceGoesAway struct{ *embedded.Store }

func (s *presenceGoesAway) Present(context.Context) (map[string]time.Time, error) {
	return nil, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

func (s *presenceGoesAway) CheckIns(context.Context) (map[string]acl.CheckIn, error) {
	return nil, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// TestGrantReplacementCheckInUnread: a shorter grant whose check-in
// cannot be read stands, and says the check-in may outlast it.
func TestGrantReplacementCheckInUnread(t *testing.T) {
	f := newGuardFixture(t, "")
	for _, step := range []struct{ user, text string }{{"ana", "grant @carl admin"}, {"carl", "here for 4h"}} {
		if res, out, _ := f.do(step.user, step.text); res.Failed {
			t.Fatalf("%q: %s", step.text, out.last())
		}
	}
	svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: &presenceGoesAway{f.store}, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
	out := newRecorder()
	if res := svc.Handle(t.Context(), commands.Request{User: "ana", Platform: "test", Channel: "C1", Text: "grant @carl admin for 1h"}, out); res.Failed {
		t.Fatalf("grant: got refused, %q; want it to stand", out.last())
	}
	want := "⚠ whether carl is checked in could not be read (state store unreachable), so a check-in of theirs stays; " + suggest.Command("admins") + " lists who is around"
	if got := out.lastMessage().Lines; !slices.Contains(got, want) {
		t.Errorf("reply lines: got %q, want a line %q", got, want)
	}
	grants, err := f.store.Grants(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	if len(grants) != 1 || !grants[0].Expires.Equal(time.Date(2026, 11, 23, 11, 0, 0, 0, warsaw)) {
		t.Errorf("grants: got %+v, want carl's admin until 11:00", grants)
	}
}

// TestForgetRemovedUsersEndsCheckInsMadeOnOtherTerms: a check-in counts
// its user around only under what made them an admin as they checked
// in. One made as an admin by a runtime grant, left by a revoke whose
// end of it failed, counted them around, unasked, as soon as a start's
// config made them an admin again; so did one made as an admin by the
// config once a start's config left them one only by a grant. A start
// ends such a check-in, and audits it. One recorded without its terms
// (by an older version) stays, as it always did. The grant is the very
// one: a check-in made under a grant since revoked counted under a grant
// of the same admin made again later, which it was not made under, as
// the check-in kept only that some grant made its user an admin; one
// made under a grant replaced since (lengthened) still counts.
func TestForgetRemovedUsersEndsCheckInsMadeOnOtherTerms(t *testing.T) {
	for _, tc := range []struct {
		name   string
		user   string
		grant  bool // carl is granted admin before checking in
		revoke bool // and the grant is gone before the start, their check-in left
		// then admin is granted to carl again, the grant's end of the
		// check-in having failed
		regrant bool
		replace bool // carl's grant is replaced, for 8h, after the check-in
		old     bool // checked in by an older version: no terms kept
		// checked in, by a newer version, under these terms, which this
		// one does not know
		newer  string
		admins []string
		// admin by a runtime grant at the start, as well as admins
		grantAtStart bool
		said         string // the audit entry's command, "" for none
	}{
		{name: "checked in by a grant since revoked, admin by the config now", user: "carl", grant: true, revoke: true, admins: []string{"ana", "carl"},
			said: "admin check-in of carl ended: carl checked in as an admin by a runtime grant, and is one now only by the config"},
		{name: "checked in by a grant still in force, admin by the config too now", user: "carl", grant: true, admins: []string{"ana", "carl"}},
		{name: "checked in by the config, still", user: "ana", admins: []string{"ana"}},
		{name: "checked in by the config, admin now only by a grant", user: "ana", admins: []string{"carl"}, grantAtStart: true,
			said: "admin check-in of ana ended: ana checked in as an admin by the config, and is one now only by a runtime grant"},
		{name: "checked in by an older version, admin by the config now", user: "carl", old: true, admins: []string{"ana", "carl"}},
		{name: "checked in by a grant since revoked, granted again", user: "carl", grant: true, revoke: true, regrant: true, admins: []string{"ana"},
			said: "admin check-in of carl ended: carl checked in as an admin by a runtime grant, and is one now only by another runtime grant"},
		{name: "checked in by a grant since replaced", user: "carl", grant: true, replace: true, admins: []string{"ana"}},
		{name: "checked in by a grant kind an older version named, granted again", user: "carl", grant: true, revoke: true, regrant: true, old: true, admins: []string{"ana"}},
		{name: "checked in under terms a newer version named, admin by the config", user: "ana", newer: "sso:admins", admins: []string{"ana"},
			said: "admin check-in of ana ended: ana checked in as an admin by terms this version does not know, and is one now only by the config"},
		{name: "checked in by the config and terms a newer version named, admin by the config", user: "ana", newer: "config,sso:admins", admins: []string{"ana"}},
		{name: "checked in by the config and terms a newer version named, admin now only by a grant", user: "ana", newer: "config,sso:admins", admins: []string{"carl"}, grantAtStart: true,
			said: "admin check-in of ana ended: ana checked in as an admin by the config and terms this version does not know, and is one now only by a runtime grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixture(t) // users ana, bob and carl; ana the admin
			ctx := context.Background()
			if tc.grant {
				if res, out, _ := f.do("ana", "grant @carl admin"); res.Failed {
					t.Fatalf("grant: %q", out.last())
				}
			}
			switch {
			case tc.newer != "":
				if err := f.store.CheckInUnder(ctx, tc.user, time.Now().Add(time.Hour), tc.newer); err != nil {
					t.Fatal(err)
				}
			case tc.old && tc.grant:
				if err := f.store.CheckInUnder(ctx, tc.user, time.Now().Add(time.Hour), acl.UnderGrant); err != nil {
					t.Fatal(err)
				}
			case tc.old:
				if err := f.store.CheckIn(ctx, tc.user, time.Now().Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			default:
				if res, out, _ := f.do(tc.user, "here"); res.Failed {
					t.Fatalf("here: %q", out.last())
				}
			}
			if tc.replace {
				if res, out, _ := f.do("ana", "grant @carl admin for 8h"); res.Failed {
					t.Fatalf("grant again: %q", out.last())
				}
			}
			if tc.revoke {
				// As a revoke whose end of the check-in failed leaves it.
				if _, err := f.store.DeleteGrant(ctx, "carl", "admin", "", ""); err != nil {
					t.Fatal(err)
				}
			}
			if tc.regrant {
				// As a grant whose end of the earlier check-in failed
				// leaves it.
				if err := f.store.PutGrant(ctx, acl.Grant{User: "carl", Role: "admin", GrantedBy: "ana", Created: time.Now().Add(time.Minute)}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.grantAtStart {
				if err := f.store.PutGrant(ctx, acl.Grant{User: tc.user, Role: "admin", GrantedBy: "carl", Created: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			policy, err := acl.New(acl.Rules{
				Users:    []string{"ana", "bob", "carl"},
				Roles:    map[string][]acl.Action{"admin": {acl.Admin}, "deployer": {acl.Deploy, acl.Rollback, acl.Cancel, acl.Lock, acl.Unlock}},
				Bindings: []acl.Binding{{Role: "admin", Users: tc.admins}, {Role: "deployer", Users: []string{"bob"}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: policy})
			if err := svc.ForgetRemovedUsers(ctx); err != nil {
				t.Fatalf("ForgetRemovedUsers: %v", err)
			}
			present, err := f.store.Present(ctx)
			if _, in := present[tc.user]; err != nil || in != (tc.said == "") {
				t.Errorf("%s checked in after the start: got %v, %v; want %v", tc.user, in, err, tc.said == "")
			}
			entries, err := f.store.Audit(ctx, audit.Query{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var said []string
			for _, e := range audit.Fold(entries) {
				if e.User == config.BotUser && e.Action == "away" {
					said = append(said, e.Command)
				}
			}
			if want := []string{tc.said}; tc.said == "" && len(said) != 0 || tc.said != "" && !slices.Equal(said, want) {
				t.Errorf("audit: got %q, want %q", said, tc.said)
			}
		})
	}
}

// TestCheckInOnOtherTermsNotCounted: a check-in counts its user around
// only while what made them an admin as they checked in still does, at
// any time, not only at start. One made under a grant since revoked,
// left by a revoke whose end of it failed, counted its user around again
// as soon as the admin was granted anew; admins now says why it does
// not count, and a deploy needing an admin present is refused.
func TestCheckInOnOtherTermsNotCounted(t *testing.T) {
	f := newGuardFixture(t, "")
	ctx := t.Context()
	for _, step := range []struct{ user, text string }{{"ana", "grant @carl admin"}, {"carl", "here for 4h"}} {
		if res, out, _ := f.do(step.user, step.text); res.Failed {
			t.Fatalf("%q: %s", step.text, out.last())
		}
	}
	// As a revoke whose end of the check-in failed leaves it, and a
	// grant made later.
	if _, err := f.store.DeleteGrant(ctx, "carl", "admin", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutGrant(ctx, acl.Grant{User: "carl", Role: "admin", GrantedBy: "ana", Created: f.clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	_, out, _ := f.do("bob", "admins")
	want := "carl: away; checked in until 2026-11-23 14:00:00 CET, not counted: carl checked in as an admin by a runtime grant, and is one now only by another runtime grant; " +
		suggest.Command("here") + " checks them in anew"
	if got := out.lastMessage().Lines; !slices.Contains(got, want) {
		t.Errorf("admins: got %q, want a line %q", got, want)
	}
	if res, out, _ := f.do("bob", "deploy web 1"); !res.Failed || !strings.Contains(out.last(), "no admin is around") {
		t.Errorf("deploy: got failed=%v %q, want refused as no admin is around", res.Failed, out.last())
	}
	// Checked in anew, under the grant in force, they count.
	if res, out, _ := f.do("carl", "here"); res.Failed {
		t.Fatalf("here: %s", out.last())
	}
	if res, out, _ := f.do("bob", "deploy web 1"); res.Failed && strings.Contains(out.last(), "no admin is around") {
		t.Errorf("deploy once checked in anew: got %q, want no refusal for want of an admin", out.last())
	}
}
