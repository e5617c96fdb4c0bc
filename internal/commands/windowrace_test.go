package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// gateHookStore runs between once, right after the first read of the
// locks: the deploy's gate has judged its window by then, and the deploy
// has not taken its lease yet.
type gateHookStore struct {
	*embedded.Store
	once    sync.Once
	between func(ctx context.Context)
}

func (s *gateHookStore) Locks(ctx context.Context) ([]deploy.Lock, error) {
	locks, err := s.Store.Locks(ctx)
	if err == nil {
		s.once.Do(func() { s.between(ctx) })
	}
	return locks, err
}

// TestWindowClosesAfterTheGate: a deploy whose window closes, or whose
// admin goes away, after its gate judged the window and before it holds
// its lease is refused, nothing changed, as a lock taken then refuses it:
// it judges the window again once it holds the lease. A deploy forced
// past the window goes ahead as its override said, unless the admin the
// env wants around went away and the override was not an admin's.
func TestWindowClosesAfterTheGate(t *testing.T) {
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	closing := time.Date(2026, 11, 23, 16, 0, 0, 0, warsaw) // a Monday, as Mon-Thu 09:00-16:00 ends
	closes := func(_ context.Context, f *guardFixture) { f.clock.Set(closing) }
	later := func(_ context.Context, f *guardFixture) { f.clock.Advance(time.Second) }
	away := func(ctx context.Context, f *guardFixture) {
		if err := f.store.CheckOut(ctx, "ana"); err != nil {
			t.Error(err)
		}
	}
	for _, tc := range []struct {
		name       string
		at         time.Time // when the gate judges the window
		user, text string
		between    func(ctx context.Context, f *guardFixture)
		want       []string // nil for the deploy to go ahead
	}{
		{"window closes", closing.Add(-2 * time.Second), "bob", "deploy web 1", closes,
			[]string{"deploys to web/prod are closed now: outside the deploy window", "nothing was changed"}},
		{"admin goes away", closing.Add(-time.Hour), "bob", "deploy web 1", away,
			[]string{"deploys to web/prod are closed now: no admin is around", "nothing was changed"}},
		{"window closes on a --force it did not need", closing.Add(-2 * time.Second), "ana", `deploy web 1 --force "INC-42"`, closes,
			[]string{"deploys to web/prod are closed now: outside the deploy window", "nothing was changed"}},
		{"window stays open", closing.Add(-2 * time.Second), "bob", "deploy web 1", later, nil},
		{"forced past a window still closed", closing.Add(time.Hour), "dana", `deploy web 1 --force "hotfix"`, later, nil},
		{"admin goes away from an override", closing.Add(time.Hour), "dana", `deploy web 1 --force "hotfix"`, away,
			[]string{"no admin is around", "not the need for an admin around", "nothing was changed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			f.clock.Set(tc.at)
			if r, out, _ := f.do("ana", "here for 24h"); r.Failed {
				t.Fatalf("ana checks in: %s", out.last())
			}
			st := &gateHookStore{Store: f.store, between: func(ctx context.Context) { tc.between(ctx, f) }}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			out := newRecorder()
			res := svc.Handle(t.Context(), commands.Request{User: tc.user, Platform: "test", Channel: "C1", Text: tc.text}, out)
			if tc.want == nil {
				if res.Failed || res.DeployID == "" {
					t.Fatalf("%s: failed %v, %q; want it to go ahead", tc.text, res.Failed, out.last())
				}
				if rec := <-out.finished; rec.Outcome != deploy.OutcomeSucceeded {
					t.Errorf("%s: ended %s; want succeeded", tc.text, rec.Outcome)
				}
				return
			}
			if !res.Failed || res.DeployID != "" {
				t.Fatalf("%s: failed %v, deploy %q, %q; want it refused", tc.text, res.Failed, res.DeployID, out.last())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.last(), w) {
					t.Errorf("%s: reply %q; want %q", tc.text, out.last(), w)
				}
			}
			if _, err := os.Lstat(filepath.Join(f.app, "current")); !os.IsNotExist(err) {
				t.Errorf("current after the refused deploy: %v; want none", err)
			}
			if recs, err := f.store.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
				t.Errorf("records after the refused deploy: %d, %v; want none", len(recs), err)
			}
			// The lease was given back: the deploy goes ahead once the
			// window is open again with an admin around.
			f.clock.Set(closing.Add(-time.Hour))
			if r, out, _ := f.do("ana", "here for 24h"); r.Failed {
				t.Fatalf("ana checks in again: %s", out.last())
			}
			if _, out, rec := f.do("bob", "deploy web 1"); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
				t.Errorf("deploy in the window: %q, %+v; want it to succeed", out.last(), rec)
			}
		})
	}
}

// TestWindowOpensBeforeAForcedDeployStarts: a deploy forced past a closed
// window whose window has opened by the time it holds its app+env (it
// waited for it) is no override: its record, its messages and its audit
// entry say none, as those of a --force sent while deploys were open do.
// They said it had been forced past a closed window. One whose window is
// still closed then goes ahead as the override it is.
func TestWindowOpensBeforeAForcedDeployStarts(t *testing.T) {
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	opening := time.Date(2026, 11, 24, 9, 0, 0, 0, warsaw) // a Tuesday, as Mon-Thu 09:00-16:00 begins
	const text = `deploy web 1 --force "hotfix"`
	for _, tc := range []struct {
		name    string
		between func(f *guardFixture)
		forced  bool
		note    string // a line of the reply and the audit entry
	}{
		{"window opens", func(f *guardFixture) { f.clock.Set(opening) }, false,
			`deploys to web/prod opened before the deploy started, so --force "hotfix" was not used: this deploy is no override`},
		{"window stays closed", func(f *guardFixture) { f.clock.Advance(500 * time.Millisecond) }, true,
			`dana forced this deploy outside its window: "hotfix"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			f.clock.Set(opening.Add(-time.Second))
			if r, out, _ := f.do("ana", "here for 24h"); r.Failed {
				t.Fatalf("ana checks in: %s", out.last())
			}
			st := &gateHookStore{Store: f.store, between: func(context.Context) { tc.between(f) }}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			out := newRecorder()
			res := svc.Handle(t.Context(), commands.Request{User: "dana", Platform: "test", Channel: "C1", Text: text}, out)
			if res.Failed || res.DeployID == "" {
				t.Fatalf("%s: failed %v, %q; want it to go ahead", text, res.Failed, out.last())
			}
			rec := <-out.finished
			if rec.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("%s: ended %s; want succeeded", text, rec.Outcome)
			}
			if got := rec.Forced != ""; got != tc.forced {
				t.Errorf("record: got Forced %q, want forced %v", rec.Forced, tc.forced)
			}
			m := out.replies[0]
			if got := strings.Join(m.Lines, "\n"); !strings.Contains(got, tc.note) || (!tc.forced && strings.Contains(got, "forced this deploy")) {
				t.Errorf("reply lines: got %q, want %q", got, tc.note)
			}
			if m.Public != tc.forced || (m.Level == chat.Warning) != tc.forced {
				t.Errorf("reply: got public %v, level %v; want the announcement of an override %v", m.Public, m.Level, tc.forced)
			}
			out.mu.Lock()
			for _, ev := range out.events {
				if got := strings.Contains(chat.Text(commands.EventMessage(ev)), "forced outside the deploy window"); got && !tc.forced {
					t.Errorf("%s message: got %q, want no override", ev.Kind, chat.Text(commands.EventMessage(ev)))
				}
			}
			out.mu.Unlock()
			entries, err := f.store.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, e := range audit.Fold(entries) {
				if e.DeployID != rec.ID || e.Decision != audit.Allowed {
					continue
				}
				found = true
				if !strings.Contains(e.Reason, tc.note) || (!tc.forced && strings.Contains(e.Reason, "forced this deploy")) {
					t.Errorf("audit entry: got reason %q, want %q", e.Reason, tc.note)
				}
			}
			if !found {
				t.Errorf("audit: no allowed entry of deploy %s", rec.ID)
			}
		})
	}
}
