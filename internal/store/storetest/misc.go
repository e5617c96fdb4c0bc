package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

func testSetOnce(t *testing.T, fresh freshFunc) {
	const ttl = 10 * time.Minute
	t.Run("once until expiry", func(t *testing.T) {
		s, clock := fresh(t)
		steps := []struct {
			name    string
			advance time.Duration
			key     string
			want    bool
		}{
			{"first", 0, "slack:Ev01", true},
			{"repeat", 0, "slack:Ev01", false},
			{"other key", 0, "slack:Ev02", true},
			{"before expiry", ttl - time.Second, "slack:Ev01", false},
			{"after expiry", 2 * time.Second, "slack:Ev01", true},
			{"repeat after reset", 0, "slack:Ev01", false},
			// Ev02 was set with Ev01, so it has expired too.
			{"other key after expiry", 0, "slack:Ev02", true},
		}
		for _, st := range steps {
			clock.Advance(st.advance)
			got, err := s.SetOnce(t.Context(), st.key, ttl)
			if err != nil {
				t.Fatalf("%s: SetOnce(%q): %v", st.name, st.key, err)
			}
			if got != st.want {
				t.Errorf("%s: SetOnce(%q): got %v, want %v", st.name, st.key, got, st.want)
			}
		}
	})

	t.Run("many expired keys", func(t *testing.T) {
		s, clock := fresh(t)
		for i := range 100 {
			mustSetOnce(t, s, fmt.Sprintf("k%03d", i), time.Minute, true)
		}
		clock.Advance(time.Hour)
		for i := range 100 {
			mustSetOnce(t, s, fmt.Sprintf("k%03d", i), time.Minute, true)
		}
		mustSetOnce(t, s, "k000", time.Minute, false)
	})

	t.Run("race", func(t *testing.T) {
		s, _ := fresh(t)
		var wg sync.WaitGroup
		var wins atomic.Int32
		for range 16 {
			wg.Go(func() {
				ok, err := s.SetOnce(t.Context(), "discord:123", ttl)
				if err != nil {
					t.Errorf("SetOnce: %v", err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Errorf("SetOnce raced by 16: got %d true, want 1", got)
		}
	})
}

// testForgetOnce: ForgetOnce undoes the SetOnceToken of its own token,
// and never a key another call set, whose caller acted on it.
func testForgetOnce(t *testing.T, fresh freshFunc) {
	const ttl = 10 * time.Minute
	// A step sets (set: SetOnceToken with token, or SetOnce without one),
	// or forgets the key with token.
	type step struct {
		advance time.Duration
		forget  bool
		token   string
		ttl     time.Duration
		want    bool // of a set
	}
	set := func(token string, want bool) step { return step{token: token, ttl: ttl, want: want} }
	forget := func(token string) step { return step{forget: true, token: token} }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"own key forgotten", []step{set("a", true), forget("a"), set("", true)}},
		{"own key forgotten twice", []step{set("a", true), forget("a"), forget("a"), set("b", true), set("", false)}},
		{"nothing to forget", []step{forget("a"), set("", true)}},
		{"key of another token kept", []step{set("a", true), set("b", false), forget("b"), set("", false)}},
		{"key of a plain SetOnce kept", []step{set("", true), forget("a"), set("b", false)}},
		{"expired key set again by another kept", []step{set("a", true), {advance: ttl + time.Second}, set("b", true), forget("a"), set("", false)}},
		{"expired own key forgotten", []step{set("a", true), {advance: ttl + time.Second}, forget("a"), set("", true)}},
		{"key set for good forgotten", []step{{token: "a", want: true}, forget("a"), set("", true)}},
		{"key set for good of another kept", []step{{token: "a", want: true}, forget("b"), set("", false)}},
		{"token sharing a prefix kept", []step{set("abc", true), forget("ab"), forget("abcd"), set("", false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clock := fresh(t)
			for i, st := range tc.steps {
				clock.Advance(st.advance)
				switch {
				case st.forget:
					if err := s.ForgetOnce(t.Context(), "sentry-webhook:1", st.token); err != nil {
						t.Fatalf("step %d: ForgetOnce(%q): %v", i, st.token, err)
					}
				case st.token != "" || st.ttl != 0:
					var got bool
					var err error
					if st.token == "" {
						got, err = s.SetOnce(t.Context(), "sentry-webhook:1", st.ttl)
					} else {
						got, err = s.SetOnceToken(t.Context(), "sentry-webhook:1", st.token, st.ttl)
					}
					if err != nil {
						t.Fatalf("step %d: set with token %q: %v", i, st.token, err)
					}
					if got != st.want {
						t.Errorf("step %d: set with token %q: got %v, want %v", i, st.token, got, st.want)
					}
				}
			}
		})
	}

	t.Run("other keys untouched", func(t *testing.T) {
		s, _ := fresh(t)
		for _, k := range []string{"k1", "k2"} {
			if ok, err := s.SetOnceToken(t.Context(), k, "a", ttl); !ok || err != nil {
				t.Fatalf("SetOnceToken(%q): got %v, %v, want true", k, ok, err)
			}
		}
		if err := s.ForgetOnce(t.Context(), "k1", "a"); err != nil {
			t.Fatal(err)
		}
		mustSetOnce(t, s, "k1", ttl, true)
		mustSetOnce(t, s, "k2", ttl, false)
	})

	t.Run("empty token", func(t *testing.T) {
		s, _ := fresh(t)
		if _, err := s.SetOnceToken(t.Context(), "k", "", ttl); errs.CodeOf(err) != errs.Invalid {
			t.Errorf("SetOnceToken with an empty token: got %v, want code invalid", err)
		}
		mustSetOnce(t, s, "k", ttl, true)
		if err := s.ForgetOnce(t.Context(), "k", ""); errs.CodeOf(err) != errs.Invalid {
			t.Errorf("ForgetOnce with an empty token: got %v, want code invalid", err)
		}
		mustSetOnce(t, s, "k", ttl, false)
	})

	// Racing deliveries of one key: the losers forgetting their own
	// tokens leave the winner's key.
	t.Run("race", func(t *testing.T) {
		s, _ := fresh(t)
		var wg sync.WaitGroup
		var wins atomic.Int32
		var winner atomic.Value
		for i := range 16 {
			wg.Go(func() {
				token := fmt.Sprintf("t%02d", i)
				ok, err := s.SetOnceToken(t.Context(), "discord:123", token, ttl)
				if err != nil {
					t.Errorf("SetOnceToken: %v", err)
					return
				}
				if ok {
					wins.Add(1)
					winner.Store(token)
					return
				}
				if err := s.ForgetOnce(t.Context(), "discord:123", token); err != nil {
					t.Errorf("ForgetOnce: %v", err)
				}
			})
		}
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Fatalf("SetOnceToken raced by 16: got %d true, want 1", got)
		}
		mustSetOnce(t, s, "discord:123", ttl, false)
		if err := s.ForgetOnce(t.Context(), "discord:123", winner.Load().(string)); err != nil {
			t.Fatal(err)
		}
		mustSetOnce(t, s, "discord:123", ttl, true)
	})
}

func mustSetOnce(t *testing.T, s Store, key string, ttl time.Duration, want bool) {
	t.Helper()
	got, err := s.SetOnce(t.Context(), key, ttl)
	if err != nil {
		t.Fatalf("SetOnce(%q): %v", key, err)
	}
	if got != want {
		t.Errorf("SetOnce(%q): got %v, want %v", key, got, want)
	}
}

// testCancelled checks that every method gives up on a cancelled context
// with an error wrapping its cause. A write says, as well, that nothing of
// it was sent or stored (deploy.ErrStoreNotRun): a command whose time had
// run out was told the outcome of its write was not known, and sent people
// to check what it never asked of the store.
func testCancelled(t *testing.T, fresh freshFunc) {
	s, _ := fresh(t)
	mustPut(t, s, sampleRecord("d1", "accounting", "production", start))
	l := mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	car := trainstore.Car{App: "web", Build: "7", Env: "prod", User: "ana", Boarded: start}
	for _, tc := range []struct {
		name  string
		write bool
		call  func() error
	}{
		{"PutRecord", true, func() error { return s.PutRecord(ctx, sampleRecord("d2", "a", "e", start)) }},
		{"MarkUndelivered", true, func() error {
			return s.MarkUndelivered(ctx, "d1", deploy.Undelivered{Platform: "slack", Reason: "x"})
		}},
		{"Record", false, func() error { _, err := s.Record(ctx, "d1"); return err }},
		{"Records", false, func() error { _, err := s.Records(ctx, deploy.Filter{}); return err }},
		{"PutLock", true, func() error { return s.PutLock(ctx, sampleLock("a", "", time.Time{})) }},
		{"ReplaceLock", true, func() error { _, _, err := s.ReplaceLock(ctx, nil, sampleLock("a", "", time.Time{})); return err }},
		{"DeleteLock", true, func() error { _, err := s.DeleteLock(ctx, "a", ""); return err }},
		{"Locks", false, func() error { _, err := s.Locks(ctx); return err }},
		{"AppendAudit", true, func() error { return s.AppendAudit(ctx, &audit.Entry{Command: "x"}) }},
		{"Audit", false, func() error { _, err := s.Audit(ctx, audit.Query{}); return err }},
		{"TrimRecords", true, func() error { _, err := s.TrimRecords(ctx, start, 0); return err }},
		{"TrimAudit", true, func() error { _, err := s.TrimAudit(ctx, start); return err }},
		{"Holder", false, func() error { _, err := s.Holder(ctx, leaseKey); return err }},
		{"Signal", true, func() error { return s.Signal(ctx, "d1", "cancel", "ana", time.Minute) }},
		{"SignalFirst", true, func() error { _, _, err := s.SignalFirst(ctx, "d1", "confirm", "ok ana", time.Minute); return err }},
		{"TakeSignal", true, func() error { _, _, err := s.TakeSignal(ctx, "d1", "cancel"); return err }},
		{"SetOnce", true, func() error { _, err := s.SetOnce(ctx, "k", time.Minute); return err }},
		{"SetOnceToken", true, func() error { _, err := s.SetOnceToken(ctx, "k", "a", time.Minute); return err }},
		{"ForgetOnce", true, func() error { return s.ForgetOnce(ctx, "k", "a") }},
		{"PutGrant", true, func() error {
			return s.PutGrant(ctx, acl.Grant{User: "ana", Role: "admin", GrantedBy: "bob", Created: start})
		}},
		{"DeleteGrant", true, func() error { _, err := s.DeleteGrant(ctx, "ana", "admin", "", ""); return err }},
		{"Grants", false, func() error { _, err := s.Grants(ctx); return err }},
		{"CheckIn", true, func() error { return s.CheckIn(ctx, "ana", start.Add(time.Hour)) }},
		{"CheckOut", true, func() error { return s.CheckOut(ctx, "ana") }},
		{"CheckInIf", true, func() error { _, _, err := s.CheckInIf(ctx, "ana", time.Time{}, start.Add(time.Hour)); return err }},
		{"CheckOutIf", true, func() error { _, _, err := s.CheckOutIf(ctx, "ana", start.Add(time.Hour)); return err }},
		{"Present", false, func() error { _, err := s.Present(ctx); return err }},
		{"Board", true, func() error { _, err := s.Board(ctx, "daily", car, 0, nil); return err }},
		{"Leave", true, func() error { _, err := s.Leave(ctx, "daily", "web", "ana", start); return err }},
		{"TakenOff", false, func() error { _, err := s.TakenOff(ctx, "daily", "web"); return err }},
		{"Cars", false, func() error { _, err := s.Cars(ctx, "daily"); return err }},
		{"ReturnCars", true, func() error { return s.ReturnCars(ctx, "daily", []trainstore.Car{car}) }},
		{"MarkRun", true, func() error { return s.MarkRun(ctx, "daily", "announce", start) }},
		{"LastRun", false, func() error { _, err := s.LastRun(ctx, "daily", "announce"); return err }},
		{"MarkCancel", true, func() error {
			return s.MarkCancel(ctx, "daily", trainstore.Cancellation{At: start, User: "ana", Reason: "x"})
		}},
		{"LastCancel", false, func() error { _, err := s.LastCancel(ctx, "daily"); return err }},
		{"StartDeparture", true, func() error { return s.StartDeparture(ctx, "daily", trainstore.Departure{At: start}) }},
		{"EndDeparture", true, func() error { return s.EndDeparture(ctx, "daily", trainstore.Departure{At: start}) }},
		{"Unended", false, func() error { _, err := s.Unended(ctx, "daily"); return err }},
		{"Trains", false, func() error { _, err := s.Trains(ctx); return err }},
		{"Acquire", true, func() error { _, err := s.Acquire(ctx, "other", "bot-1", leaseTTL); return err }},
		{"PutWatch", true, func() error { return s.PutWatch(ctx, watchstore.Watch{ID: "d1", Fence: l.Token()}) }},
		{"Watch", false, func() error { _, err := s.Watch(ctx, "d1"); return err }},
		{"Watches", false, func() error { _, err := s.Watches(ctx); return err }},
		{"DeleteWatch", true, func() error { return s.DeleteWatch(ctx, "d1", l.Token()) }},
		{"Lease.Check", false, func() error { return l.Check(ctx) }},
		{"Lease.Renew", true, func() error { return l.Renew(ctx) }},
		{"Lease.Release", true, func() error { return l.Release(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("with a cancelled context: got %v, want an error wrapping context.Canceled", err)
			}
			if !tc.write {
				return
			}
			if !errors.Is(err, deploy.ErrStoreNotRun) {
				t.Errorf("with a cancelled context: got %v, want an error wrapping deploy.ErrStoreNotRun", err)
			}
			if said := errs.Message(deploy.OutcomeUnknown(err, "whether x", "check")); !strings.HasSuffix(said, "nothing was changed") {
				t.Errorf("told: got %q, want it to end with nothing was changed", said)
			}
		})
	}
	// Nothing happened.
	assertIDs(t, s, deploy.Filter{}, "d1")
	assertHeld(t, l)
	if n := len(mustAudit(t, s, audit.Query{})); n != 0 {
		t.Errorf("Audit: got %d entries, want 0", n)
	}
}
