package commands_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// lockerYAML has ana, an admin, and carl, who may deploy and lock on
// web/prod but not unlock.
const lockerYAML = `users:
  ana: {}
  carl: {}
admins: [ana]
roles:
  locker: [deploy, lock]
access:
  - role: locker
    users: [carl]
    on: ["web/prod"]
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
`

// TestLockDoesNotTakeOverAnothersLock: a lock replaces only its owner's
// own lock of the same scope. Taking over another's would unlock it
// without the unlock permission, and its new owner would deploy through
// it.
func TestLockDoesNotTakeOverAnothersLock(t *testing.T) {
	f := newServiceFixtureFrom(t, lockerYAML, nil)
	if r, out, _ := f.do("ana", "lock deploys web prod db migration running"); r.Failed {
		t.Fatalf("ana's lock: %s", out.last())
	}
	r, out, _ := f.do("carl", "lock deploys web prod for 1m mine now")
	if !r.Failed || !strings.Contains(out.last(), "web/prod is locked already: locked by ana") {
		t.Errorf("carl locking over ana's lock: failed %v, %q; want a refusal naming ana's lock", r.Failed, out.last())
	}
	if r, out, _ := f.do("carl", "deploy web 1"); !r.Failed || !strings.Contains(out.last(), "db migration running") {
		t.Errorf("carl's deploy under ana's lock: failed %v, %q; want it refused", r.Failed, out.last())
	}
	// Its owner may change it: a new reason, an expiry.
	if r, out, _ := f.do("ana", "lock deploys web prod for 2h migration, part two"); r.Failed {
		t.Errorf("ana relocking her own lock: %s", out.last())
	}
	locks, err := f.store.Locks(t.Context())
	if err != nil || len(locks) != 1 || locks[0].Owner != "ana" || locks[0].Reason != "migration, part two" {
		t.Errorf("locks: %+v, %v; want ana's, with its new reason", locks, err)
	}
}

// lockingStore is a store on which another replica takes lock right
// after the first read of the locks once armed: between a deploy's gate
// and its lease.
type lockingStore struct {
	*embedded.Store
	mu   sync.Mutex
	lock *deploy.Lock
}

func (s *lockingStore) Locks(ctx context.Context) ([]deploy.Lock, error) {
	locks, err := s.Store.Locks(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.lock != nil {
		if perr := s.Store.PutLock(ctx, *s.lock); perr != nil {
			return nil, perr
		}
		s.lock = nil
	}
	return locks, err
}

// TestLockTakenAfterTheGate: a lock taken after a deploy's gate read the
// locks, before the deploy held its lease, refuses the deploy: once it
// holds the lease it reads them again.
func TestLockTakenAfterTheGate(t *testing.T) {
	f := newServiceFixture(t)
	st := &lockingStore{Store: f.store, lock: &deploy.Lock{App: "web", Owner: "ana", Reason: "incident 7", Created: time.Now()}}
	svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
	out := newRecorder()
	res := svc.Handle(t.Context(), commands.Request{User: "bob", Platform: "test", Channel: "C1", Text: "deploy web 1"}, out)
	if !res.Failed || res.DeployID != "" || !strings.Contains(out.last(), "web/prod is locked: locked by ana") {
		t.Fatalf("deploy with a lock taken after its gate: failed %v, deploy %q, %q; want it refused, naming ana's lock", res.Failed, res.DeployID, out.last())
	}
	if _, err := os.Lstat(filepath.Join(f.app, "current")); !os.IsNotExist(err) {
		t.Errorf("current after the refused deploy: %v; want none", err)
	}
	if recs, err := f.store.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
		t.Errorf("records after the refused deploy: %d, %v; want none", len(recs), err)
	}
	// The lease was given back: the deploy goes ahead once unlocked.
	if r, out, _ := f.do("ana", "unlock deploys web"); r.Failed {
		t.Fatalf("unlock: %s", out.last())
	}
	if _, out, rec := f.do("bob", "deploy web 1"); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Errorf("deploy after unlock: %q, %+v; want it to succeed", out.last(), rec)
	}
}

// TestLockNamesRunsUnderWay: a lock does not stop what already runs; its
// reply names each deploy or rollback holding an app+env it covers, on
// any replica (by their leases), and how to stop a deploy.
func TestLockNamesRunsUnderWay(t *testing.T) {
	for _, tc := range []struct {
		name, holder, lock string
		want               []string
		marked             []string
	}{
		{"deploy", "20261204-101500-ab12 deploy of build 2 by bob", "lock deploys web",
			[]string{"web/prod: deploy of build 2 by bob is under way (20261204-101500-ab12) and goes on", "to stop this one: cancel web prod"},
			[]string{"cancel web prod"}},
		{"rollback", "20261204-101500-cd34 rollback of build 1 by bob", "lock deploys",
			[]string{"web/prod: rollback of build 1 by bob is under way (20261204-101500-cd34) and goes on: a lock does not stop a rollback"}, nil},
		{"recovery", "recovery:20261204-101500-ef56", "lock deploys web",
			[]string{"web/prod: the recovery of a run whose process stopped is under way (20261204-101500-ef56) and goes on: it changes no host"}, nil},
		{"none", "", "lock deploys web prod", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixture(t)
			if tc.holder != "" {
				l, err := f.store.Acquire(t.Context(), "deploy:web/prod", tc.holder, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release(context.Background())
			}
			r, out, _ := f.do("ana", tc.lock+" release freeze")
			if r.Failed {
				t.Fatalf("%s: %s", tc.lock, out.last())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.last(), w) {
					t.Errorf("%s: reply %q; want %q", tc.lock, out.last(), w)
				}
			}
			// The cancel offered is marked as the bot's suggestion, and
			// stops the deploy named.
			m := out.lastMessage()
			var marked []string
			suggest.Rewrite(strings.Join(append([]string{m.Title}, m.Lines...), "\n"), func(cmd string) string { marked = append(marked, cmd); return cmd })
			if !slices.Equal(marked, tc.marked) {
				t.Errorf("%s: commands marked as suggested %q; want %q", tc.lock, marked, tc.marked)
			}
			if tc.want == nil && strings.Contains(out.last(), "under way") {
				t.Errorf("%s with nothing running: reply %q names a run under way", tc.lock, out.last())
			}
		})
	}
}

// racingStore runs between once, right after the first read of the
// locks: another person, a rollback or another replica writes a lock
// between a command's read of the locks and its own write.
type racingStore struct {
	*embedded.Store
	once    sync.Once
	between func(ctx context.Context, s *embedded.Store) error
}

func (s *racingStore) Locks(ctx context.Context) ([]deploy.Lock, error) {
	locks, err := s.Store.Locks(ctx)
	if err == nil {
		s.once.Do(func() { err = s.between(ctx, s.Store) })
	}
	return locks, err
}

// TestLockRace: a lock of the same scope taken between a lock command's
// read of the locks and its write is not replaced. The second locker is
// refused, naming the lock that came first, and the refusal is audited;
// only a change of their own lock, or its removal, lets theirs be set.
func TestLockRace(t *testing.T) {
	since := time.Now().Add(-time.Minute)
	put := func(l deploy.Lock) func(context.Context, *embedded.Store) error {
		return func(ctx context.Context, s *embedded.Store) error { return s.PutLock(ctx, l) }
	}
	carls := deploy.Lock{App: "web", Env: "prod", Owner: "carl", Reason: "first", Created: since}
	for _, tc := range []struct {
		name    string
		before  *deploy.Lock // in force when carl locks
		between func(context.Context, *embedded.Store) error
		// refusal is what carl is told; "" for his lock being set.
		refusal   string
		wantOwner string
		wantWhy   string
		// replaced is the reason of the lock carl's reply names as
		// replaced: the one in force when his was written ("": none).
		replaced string
	}{
		{"a person's lock", nil,
			put(deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "db migration running", Created: since}),
			"web/prod was locked a moment ago: locked by ana since", "ana", "db migration running", ""},
		{"a rollback's lock", nil,
			put(deploy.Lock{App: "web", Env: "prod", Owner: deploy.LockOwnerBot, Reason: "rolled back from 2 by ana: fix before deploying again", Created: since}),
			"web/prod was locked a moment ago: locked by switchman since", deploy.LockOwnerBot, "rolled back from 2 by ana: fix before deploying again", ""},
		{"a person's lock in place of carl's", &carls,
			put(deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "db migration running", Created: since}),
			"web/prod was locked a moment ago: locked by ana since", "ana", "db migration running", ""},
		{"carl's own lock, set again", &carls,
			put(deploy.Lock{App: "web", Env: "prod", Owner: "carl", Reason: "second", Created: since}),
			"", "carl", "mine now", "second"},
		{"carl's own lock, lifted", &carls,
			func(ctx context.Context, s *embedded.Store) error {
				_, err := s.DeleteLock(ctx, "web", "prod")
				return err
			},
			"", "carl", "mine now", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixtureFrom(t, lockerYAML, nil)
			if tc.before != nil {
				if err := f.store.PutLock(t.Context(), *tc.before); err != nil {
					t.Fatal(err)
				}
			}
			st := &racingStore{Store: f.store, between: tc.between}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
			out := newRecorder()
			res := svc.Handle(t.Context(), commands.Request{User: "carl", Platform: "test", Channel: "C1", Text: "lock deploys web prod mine now"}, out)
			if tc.refusal == "" {
				if res.Failed || !strings.Contains(out.last(), "Locked web/prod") {
					t.Errorf("carl's lock: failed %v, %q; want it set", res.Failed, out.last())
				}
				_, replaced, found := strings.Cut(out.last(), "replaces the earlier lock: ")
				switch {
				case tc.replaced == "" && found:
					t.Errorf("carl's lock: got %q; want no lock named as replaced", out.last())
				case tc.replaced != "" && (!strings.HasPrefix(replaced, "locked by carl since ") || !strings.Contains(replaced, ": "+tc.replaced)):
					t.Errorf("carl's lock: got %q; want it to name his lock %q as replaced", out.last(), tc.replaced)
				}
			} else {
				if !res.Failed || !strings.Contains(out.last(), tc.refusal) || !strings.Contains(out.last(), "your lock was not set") {
					t.Errorf("carl's lock: failed %v, %q; want it refused, saying %q and that his lock was not set", res.Failed, out.last(), tc.refusal)
				}
				entries, err := f.store.Audit(t.Context(), audit.Query{Limit: 1})
				if err != nil || len(entries) != 1 || entries[0].User != "carl" || entries[0].Decision != audit.Refused ||
					!strings.Contains(entries[0].Reason, tc.refusal) {
					t.Errorf("audit: got %+v, %v; want carl's lock refused, saying %q", entries, err, tc.refusal)
				}
			}
			locks, err := f.store.Locks(t.Context())
			if err != nil || len(locks) != 1 || locks[0].Owner != tc.wantOwner || locks[0].Reason != tc.wantWhy {
				t.Errorf("locks: got %+v, %v; want %s's: %q", locks, err, tc.wantOwner, tc.wantWhy)
			}
		})
	}
}

// TestUnlockShowsWhatItLifted: unlock answers with the lock it lifted as
// lock and status showed it, expiry included, so that whoever lifted it
// by mistake, or to deploy once, can put it back as it was.
func TestUnlockShowsWhatItLifted(t *testing.T) {
	tests := []struct {
		name, lock string
		until      bool
	}{
		{"until unlocked", "lock deploys web prod db migration", false},
		{"for a while", "lock deploys web prod for 2h db migration", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixtureFrom(t, lockerYAML, nil)
			r, out, _ := f.do("ana", tt.lock)
			if r.Failed {
				t.Fatalf("lock: %s", out.last())
			}
			locked := out.last()
			_, shown, ok := strings.Cut(locked, "locked by ana since ")
			if !ok || strings.Contains(shown, "(until ") != tt.until {
				t.Fatalf("lock reply: got %q, want it to describe ana's lock, with an expiry: %v", locked, tt.until)
			}
			r, out, _ = f.do("ana", "unlock deploys web prod")
			if r.Failed {
				t.Fatalf("unlock: %s", out.last())
			}
			if got, want := out.last(), "was locked by ana since "+shown; !strings.Contains(got, want) {
				t.Errorf("unlock reply: got %q, want it to contain %q", got, want)
			}
			// The audit entry names it too: whose lock, which one.
			entries, err := f.store.Audit(t.Context(), audit.Query{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if want := "; was locked by ana since " + strings.TrimSuffix(shown, "\n"); len(entries) != 1 || entries[0].Command != "unlock deploys web prod" || !strings.HasSuffix(entries[0].Reason, want) {
				t.Errorf("unlock audit entry: got %+v, want the unlock's, its reason ending %q", entries, want)
			}
		})
	}
}

// TestRelockSaysWhatItReplaced: a lock of a scope its owner has locked
// already replaces theirs, reason and expiry with it: the reply and the
// audit entry name the lock it replaced, as unlock names what it lifted.
// Another's lock is not replaced, an admin's lock over it included: they
// are told to unlock it first.
func TestRelockSaysWhatItReplaced(t *testing.T) {
	tests := []struct {
		name string
		// firstUser takes firstLock before ("": no lock before).
		firstUser, firstLock string
		user, lock           string
		// refused: the second lock is not set; otherwise replaced says
		// whether the reply names the first lock as replaced.
		refused, replaced bool
	}{
		{name: "no lock before", user: "ana", lock: "lock deploys web prod maintenance"},
		{name: "own lock with an expiry", firstUser: "ana", firstLock: "lock deploys web prod for 2h db migration",
			user: "ana", lock: "lock deploys web prod maintenance", replaced: true},
		{name: "own lock without one", firstUser: "carl", firstLock: "lock deploys web prod db migration",
			user: "carl", lock: "lock deploys web prod for 1h maintenance", replaced: true},
		{name: "own lock of another scope", firstUser: "ana", firstLock: "lock deploys web db migration",
			user: "ana", lock: "lock deploys web prod maintenance"},
		{name: "another's lock, by an admin", firstUser: "carl", firstLock: "lock deploys web prod db migration",
			user: "ana", lock: "lock deploys web prod maintenance", refused: true},
		{name: "another's lock", firstUser: "ana", firstLock: "lock deploys web prod db migration",
			user: "carl", lock: "lock deploys web prod maintenance", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixtureFrom(t, lockerYAML, nil)
			var first string // the first lock as its reply described it
			if tt.firstLock != "" {
				r, out, _ := f.do(tt.firstUser, tt.firstLock)
				if r.Failed || len(out.lastMessage().Lines) == 0 {
					t.Fatalf("%s: %s", tt.firstLock, out.last())
				}
				first = out.lastMessage().Lines[0]
			}
			r, out, _ := f.do(tt.user, tt.lock)
			entries, err := f.store.Audit(t.Context(), audit.Query{Limit: 1})
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit: %v, %v", entries, err)
			}
			if tt.refused {
				if !r.Failed || !strings.Contains(out.last(), "is locked already: "+first) {
					t.Errorf("%s over %s: failed %v, %q; want it refused, naming %q", tt.user, tt.firstLock, r.Failed, out.last(), first)
				}
				// The audit log says what to do in plain words: the
				// marks of the suggestion are for chat.
				if want := "unlock it first: unlock deploys web prod)"; !strings.Contains(entries[0].Reason, want) {
					t.Errorf("audit reason: got %q, want it to hold %q", entries[0].Reason, want)
				}
				locks, err := f.store.Locks(t.Context())
				if err != nil || len(locks) != 1 || locks[0].Owner != tt.firstUser {
					t.Errorf("locks: got %+v, %v; want %s's alone", locks, err, tt.firstUser)
				}
				return
			}
			if r.Failed {
				t.Fatalf("%s: %s", tt.lock, out.last())
			}
			want := "replaces the earlier lock: " + first
			for _, got := range []string{out.last(), entries[0].Reason} {
				if has := strings.Contains(got, "replaces"); has != tt.replaced || tt.replaced && !strings.Contains(got, want) {
					t.Errorf("got %q; want it to say %q: %v", got, want, tt.replaced)
				}
			}
		})
	}
}

// TestDeployNamesEveryOwnLockItPasses: a lock's owner deploys through it,
// and the reply and the audit entry say so for every lock of theirs the
// deploy goes through, not only the narrowest: a freeze of everything they
// set stays in sight when they also hold the app+env. The dry run before
// it says the same, where it used to pass their locks unsaid.
func TestDeployNamesEveryOwnLockItPasses(t *testing.T) {
	tests := []struct {
		name  string
		locks []string
		want  string // "": no note
	}{
		{"none", nil, ""},
		{"the app+env", []string{"lock deploys web prod hotfix"},
			"you hold the lock on web/prod (hotfix), so the deploy goes ahead"},
		{"everything", []string{"lock deploys code freeze"},
			"you hold the lock on all deploys (code freeze), so the deploy goes ahead"},
		{"nested", []string{"lock deploys web prod hotfix", "lock deploys code freeze", "lock deploys web release week"},
			"you hold the locks on all deploys (code freeze), web (release week) and web/prod (hotfix), so the deploy goes ahead"},
		{"two of three scopes", []string{"lock deploys web prod hotfix", "lock deploys code freeze"},
			"you hold the locks on all deploys (code freeze) and web/prod (hotfix), so the deploy goes ahead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixtureFrom(t, lockerYAML, nil)
			for _, l := range tt.locks {
				if r, out, _ := f.do("ana", l); r.Failed {
					t.Fatalf("%s: %s", l, out.last())
				}
			}
			r, out, _ := f.do("ana", "deploy web 1 --dry-run")
			if got := out.last(); r.Failed || tt.want == "" && strings.Contains(got, "you hold") || !strings.Contains(got, tt.want) {
				t.Errorf("dry run: got failed %v, %q, want %q", r.Failed, got, tt.want)
			}
			r, out, rec := f.do("ana", "deploy web 1")
			if r.Failed || rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("deploy: failed %v, %q, %+v", r.Failed, out.last(), rec)
			}
			entries, err := f.store.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var reason string
			for _, e := range entries {
				if e.DeployID == rec.ID && e.Decision == audit.Allowed {
					reason = e.Reason
				}
			}
			for what, got := range map[string]string{"reply": out.last(), "audit reason": reason} {
				if tt.want == "" && strings.Contains(got, "you hold") || !strings.Contains(got, tt.want) {
					t.Errorf("%s: got %q, want %q", what, got, tt.want)
				}
			}
		})
	}
}

// TestUnlockNothingLocksUnread: an unlock of a scope with no lock, whose
// list of the locks in force cannot be read, does not say there are no
// locks: there may be some, unread.
func TestUnlockNothingLocksUnread(t *testing.T) {
	f := newServiceFixture(t)
	if r, out, _ := f.do("ana", "lock deploys web db maintenance"); r.Failed {
		t.Fatalf("ana's lock: %s", out.last())
	}
	st := &unreadableLocks{Store: f.store}
	svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
	out := newRecorder()
	res := svc.Handle(t.Context(), commands.Request{User: "ana", Platform: "console", Channel: "console", Text: "unlock deploys"}, out)
	got := out.last()
	if want := "there is no lock on all deploys; the locks in force could not be read (state store unreachable)"; !res.Failed || !strings.Contains(got, want) {
		t.Errorf("unlock deploys: got failed %v, %q; want a refusal with %q", res.Failed, got, want)
	}
	if strings.Contains(got, "there are no locks") {
		t.Errorf("unlock deploys: got %q, want no \"there are no locks\" while web is locked", got)
	}
}

// unreadableLocks is a store whose list of locks cannot be read, as a
// Redis that went away after the unlock reached it.
type unreadableLocks struct{ commands.Store }

func (s *unreadableLocks) Locks(context.Context) ([]deploy.Lock, error) {
	return nil, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
}
