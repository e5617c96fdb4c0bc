package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/store/storetest"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestLostReply loses the reply to each write after Redis applied it. The
// client sends the write again on a new connection; the answer must be
// the one the first attempt gave, and the write must count once.
func TestLostReply(t *testing.T) {
	srv := redisserver.Start(t)
	proxy := newFaultProxy(t, srv.Addr())
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	const ttl = time.Minute

	// fresh returns a store reached through the proxy and one reached
	// directly, sharing a prefix and a clock.
	fresh := func(t *testing.T) (viaProxy, direct *redis.Store, clock *storetest.Clock) {
		clock = storetest.NewClock(start)
		prefix := newPrefix()
		viaProxy = openStore(t, redis.Options{URL: proxy.URL(), Prefix: prefix, MaxClockSkew: -1, Now: clock.Now})
		direct = openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix, MaxClockSkew: -1, Now: clock.Now})
		return viaProxy, direct, clock
	}
	// lose arms the proxy for a request containing match, runs call, and
	// checks that a reply was lost.
	lose := func(t *testing.T, match string, call func() error) error {
		t.Helper()
		before := proxy.Faults()
		proxy.dropNextReply(match)
		err := call()
		if got := proxy.Faults() - before; got != 1 {
			t.Fatalf("replies lost: got %d, want 1 (the test did not exercise a lost reply)", got)
		}
		return err
	}
	ctx := t.Context()

	t.Run("Acquire", func(t *testing.T) {
		s, direct, _ := fresh(t)
		var l deploy.Lease
		err := lose(t, "deploy/lost", func() (err error) {
			l, err = s.Acquire(ctx, "deploy/lost", "bot-1", ttl)
			return err
		})
		if err != nil {
			t.Fatalf("Acquire with its reply lost: got %v, want the lease (not held by bot-1 itself)", err)
		}
		if err := l.Check(ctx); err != nil {
			t.Errorf("Check: %v", err)
		}
		// Not re-entrant all the same: another call of the same holder is
		// refused.
		var he *deploy.LeaseHeldError
		if _, err := direct.Acquire(ctx, "deploy/lost", "bot-1", ttl); !errors.As(err, &he) || he.Holder != "bot-1" {
			t.Errorf("second Acquire by bot-1: got %v, want held by bot-1", err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		// The fencing counter moved once: with the clock still, the next
		// token is the next number.
		next, err := direct.Acquire(ctx, "deploy/lost", "bot-2", ttl)
		if err != nil {
			t.Fatalf("Acquire after Release: %v", err)
		}
		if next.Token() != l.Token()+1 {
			t.Errorf("token after a lost reply: got %d, want %d", next.Token(), l.Token()+1)
		}
	})

	t.Run("Release", func(t *testing.T) {
		s, direct, _ := fresh(t)
		l, err := s.Acquire(ctx, "deploy/release", "bot-1", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if err := lose(t, "deploy/release", func() error { return l.Release(ctx) }); err != nil {
			t.Errorf("Release with its reply lost: got %v, want nil", err)
		}
		if err := l.Release(ctx); !errors.Is(err, deploy.ErrLeaseLost) {
			t.Errorf("second Release: got %v, want deploy.ErrLeaseLost", err)
		}
		if _, err := direct.Acquire(ctx, "deploy/release", "bot-2", ttl); err != nil {
			t.Errorf("Acquire after Release: %v", err)
		}
	})

	t.Run("Renew", func(t *testing.T) {
		s, _, clock := fresh(t)
		l, err := s.Acquire(ctx, "deploy/renew", "bot-1", ttl)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(ttl - time.Second)
		if err := lose(t, "deploy/renew", func() error { return l.Renew(ctx) }); err != nil {
			t.Errorf("Renew with its reply lost: got %v, want nil", err)
		}
		clock.Advance(ttl - time.Second)
		if err := l.Check(ctx); err != nil {
			t.Errorf("Check within the renewed ttl: %v", err)
		}
	})

	t.Run("SetOnce", func(t *testing.T) {
		s, direct, _ := fresh(t)
		var ok bool
		err := lose(t, "slack:Ev01", func() (err error) {
			ok, err = s.SetOnce(ctx, "slack:Ev01", time.Hour)
			return err
		})
		if !ok || err != nil {
			t.Errorf("SetOnce with its reply lost: got %v, %v, want true (the event is new)", ok, err)
		}
		if ok, err := direct.SetOnce(ctx, "slack:Ev01", time.Hour); ok || err != nil {
			t.Errorf("second SetOnce: got %v, %v, want false", ok, err)
		}
	})

	t.Run("SignalFirst", func(t *testing.T) {
		s, direct, _ := fresh(t)
		var held string
		var left bool
		err := lose(t, "ok bob", func() (err error) {
			held, left, err = s.SignalFirst(ctx, "d1", "confirm", "ok bob", ttl)
			return err
		})
		if !left || err != nil {
			t.Errorf("SignalFirst with its reply lost: got %q, %v, %v; want it left (nothing was before it)", held, left, err)
		}
		if held, left, err := direct.SignalFirst(ctx, "d1", "confirm", "abort carl", ttl); left || held != "ok bob" || err != nil {
			t.Errorf("second SignalFirst: got %q, %v, %v; want \"ok bob\" in its way", held, left, err)
		}
	})

	t.Run("Signal", func(t *testing.T) {
		s, direct, _ := fresh(t)
		if err := lose(t, "lost-signal", func() error { return s.Signal(ctx, "lost-signal", "cancel", "ana", ttl) }); err != nil {
			t.Errorf("Signal with its reply lost: got %v, want nil", err)
		}
		if by, ok, err := direct.TakeSignal(ctx, "lost-signal", "cancel"); by != "ana" || !ok || err != nil {
			t.Errorf("TakeSignal: got %q, %v, %v; want \"ana\", true", by, ok, err)
		}
		if by, ok, err := direct.TakeSignal(ctx, "lost-signal", "cancel"); ok || err != nil {
			t.Errorf("second TakeSignal: got %q, %v, %v; want nothing (the signal was left once)", by, ok, err)
		}
	})

	t.Run("TakeSignal", func(t *testing.T) {
		s, direct, _ := fresh(t)
		if err := direct.Signal(ctx, "lost-take", "cancel", "ana", ttl); err != nil {
			t.Fatal(err)
		}
		var by string
		var ok bool
		err := lose(t, "lost-take", func() (err error) {
			by, ok, err = s.TakeSignal(ctx, "lost-take", "cancel")
			return err
		})
		if by != "ana" || !ok || err != nil {
			t.Errorf("TakeSignal with its reply lost: got %q, %v, %v; want \"ana\", true (the cancel it took)", by, ok, err)
		}
		if by, ok, err := direct.TakeSignal(ctx, "lost-take", "cancel"); ok || err != nil {
			t.Errorf("second TakeSignal: got %q, %v, %v; want nothing (the signal was taken)", by, ok, err)
		}
	})

	t.Run("AppendAudit", func(t *testing.T) {
		s, direct, _ := fresh(t)
		e := &audit.Entry{User: "ana", Command: "/deploy lost-reply", Decision: audit.Allowed}
		if err := lose(t, "/deploy lost-reply", func() error { return s.AppendAudit(ctx, e) }); err != nil {
			t.Fatalf("AppendAudit with its reply lost: %v", err)
		}
		entries, err := direct.Audit(ctx, audit.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Seq != e.Seq || e.Seq != 1 {
			t.Errorf("Audit: got %+v, want the one entry with Seq 1 (got Seq %d)", entries, e.Seq)
		}
	})

	t.Run("DeleteLock", func(t *testing.T) {
		s, direct, _ := fresh(t)
		want := deploy.Lock{App: "lostreply", Owner: "ana", Reason: "db maintenance", Created: start}
		if err := direct.PutLock(ctx, want); err != nil {
			t.Fatal(err)
		}
		var got deploy.Lock
		err := lose(t, "lostreply", func() (err error) {
			got, err = s.DeleteLock(ctx, "lostreply", "")
			return err
		})
		if err != nil || got.Reason != want.Reason {
			t.Errorf("DeleteLock with its reply lost: got %+v, %v, want the lock", got, err)
		}
		if _, err := direct.DeleteLock(ctx, "lostreply", ""); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("second DeleteLock: got %v, want deploy.ErrNotFound", err)
		}
	})

	t.Run("ReplaceLock", func(t *testing.T) {
		s, direct, _ := fresh(t)
		held := deploy.Lock{App: "lostreply", Owner: "ana", Reason: "db maintenance", Created: start}
		if err := direct.PutLock(ctx, held); err != nil {
			t.Fatal(err)
		}
		next := deploy.Lock{App: "lostreply", Owner: "ana", Reason: "db maintenance, part two", Created: start.Add(time.Minute)}
		var (
			cur *deploy.Lock
			ok  bool
		)
		err := lose(t, "lostreply", func() (err error) {
			cur, ok, err = s.ReplaceLock(ctx, &held, next)
			return err
		})
		if err != nil || !ok {
			t.Errorf("ReplaceLock with its reply lost: got %+v, %v, %v; want it stored", cur, ok, err)
		}
		locks, err := direct.Locks(ctx)
		if err != nil || len(locks) != 1 || !locks[0].Equal(next) {
			t.Errorf("Locks: got %+v, %v; want the new lock", locks, err)
		}
	})

	// A check-in changed or ended from the one read, whose reply was
	// lost, is not taken for one changed meanwhile by someone else when
	// the write is sent again: a grant cutting it short would say
	// nothing of it, or, of an away, that the check-in stays.
	for _, tc := range []struct {
		name  string
		out   bool
		until time.Time // after; zero: none
	}{
		{"CheckInIf", false, start.Add(time.Hour)},
		{"CheckOutIf", true, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, direct, _ := fresh(t)
			read := start.Add(4 * time.Hour)
			if err := direct.CheckIn(ctx, "lostreply", read); err != nil {
				t.Fatal(err)
			}
			var (
				cur time.Time
				ok  bool
			)
			err := lose(t, "lostreply", func() (err error) {
				if tc.out {
					cur, ok, err = s.CheckOutIf(ctx, "lostreply", read)
				} else {
					cur, ok, err = s.CheckInIf(ctx, "lostreply", read, tc.until)
				}
				return err
			})
			if err != nil || !ok {
				t.Errorf("%s with its reply lost: got %v, %v, %v; want it written", tc.name, cur, ok, err)
			}
			p, err := direct.Present(ctx)
			if got, in := p["lostreply"]; err != nil || in != !tc.until.IsZero() || !got.Equal(tc.until) {
				t.Errorf("Present: got %v, %v; want lostreply until %v (zero: none)", p, err, tc.until)
			}
		})
	}

	t.Run("DeleteGrant", func(t *testing.T) {
		s, direct, _ := fresh(t)
		want := acl.Grant{User: "lostreply", Role: "deployer", GrantedBy: "ana", Created: start}
		if err := direct.PutGrant(ctx, want); err != nil {
			t.Fatal(err)
		}
		var got acl.Grant
		err := lose(t, "lostreply", func() (err error) {
			got, err = s.DeleteGrant(ctx, "lostreply", "deployer", "", "")
			return err
		})
		if err != nil || got.GrantedBy != "ana" {
			t.Errorf("DeleteGrant with its reply lost: got %+v, %v, want the grant", got, err)
		}
	})

	t.Run("PutRecord", func(t *testing.T) {
		s, direct, _ := fresh(t)
		r := &deploy.Record{ID: "lost-reply", App: "accounting", Env: "production", Started: start, Outcome: deploy.OutcomeRunning}
		if err := lose(t, "lost-reply", func() error { return s.PutRecord(ctx, r) }); err != nil {
			t.Fatalf("PutRecord with its reply lost: %v", err)
		}
		recs, err := direct.Records(ctx, deploy.Filter{})
		if err != nil || len(recs) != 1 {
			t.Errorf("Records: got %d, %v, want the one record", len(recs), err)
		}
	})
}

// TestAcquireGivesBack stalls the reply to an Acquire that Redis applied
// until the caller gives up: the caller gets its context's error, and the
// lease it will never use is given back, behind it.
func TestAcquireGivesBack(t *testing.T) {
	srv := redisserver.Start(t)
	proxy := newFaultProxy(t, srv.Addr())
	prefix := newPrefix()
	s := openStore(t, redis.Options{URL: proxy.URL(), Prefix: prefix})
	direct := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	proxy.stallNextReply("deploy/stalled", cancel)
	_, err := s.Acquire(ctx, "deploy/stalled", "bot-1", time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with its reply stalled: got %v, want context.Canceled", err)
	}
	if proxy.Faults() != 1 {
		t.Fatalf("replies stalled: got %d, want 1", proxy.Faults())
	}
	acquireOnceGivenBack(t, direct, "deploy/stalled")
}

// TestTakeSignalAfterStalledTake: a take whose caller gave up while
// Redis ran it, so that the signal is gone but its caller never learnt
// it, is not the signal's end: the next take for the same run and kind
// returns it.
func TestTakeSignalAfterStalledTake(t *testing.T) {
	srv := redisserver.Start(t)
	proxy := newFaultProxy(t, srv.Addr())
	s := openStore(t, redis.Options{URL: proxy.URL(), Prefix: newPrefix()})
	if err := s.Signal(t.Context(), "d1", "cancel", "ana", time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	proxy.stallNextReply("d1:cancel", cancel)
	if _, _, err := s.TakeSignal(ctx, "d1", "cancel"); !errors.Is(err, context.Canceled) {
		t.Fatalf("TakeSignal with its reply stalled: got %v, want context.Canceled", err)
	}
	if proxy.Faults() != 1 {
		t.Fatalf("replies stalled: got %d, want 1", proxy.Faults())
	}
	v, ok, err := s.TakeSignal(t.Context(), "d1", "cancel")
	if err != nil || !ok || v != "ana" {
		t.Errorf("the next TakeSignal: got %q, %v, %v; want ana's cancel", v, ok, err)
	}
	if v, ok, err := s.TakeSignal(t.Context(), "d1", "cancel"); err != nil || ok {
		t.Errorf("a third TakeSignal: got %q, %v, %v; want nothing: the signal was taken once", v, ok, err)
	}
}

// TestForgetOnceAfterStalledSet stalls the reply to a SetOnceToken that
// Redis applied until the caller gives up: the caller cannot tell
// whether the key is set, and ForgetOnce with its token undoes it, so that
// the key is new again, as a delivery refused for the sender to send again
// needs. Another call's key stays.
func TestForgetOnceAfterStalledSet(t *testing.T) {
	srv := redisserver.Start(t)
	proxy := newFaultProxy(t, srv.Addr())
	prefix := newPrefix()
	s := openStore(t, redis.Options{URL: proxy.URL(), Prefix: prefix})
	direct := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	proxy.stallNextReply("sentry-webhook:stalled", cancel)
	if _, err := s.SetOnceToken(ctx, "sentry-webhook:stalled", "tok-1", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("SetOnceToken with its reply stalled: got %v, want context.Canceled", err)
	}
	if proxy.Faults() != 1 {
		t.Fatalf("replies stalled: got %d, want 1", proxy.Faults())
	}
	// Applied all the same: another delivery of the key is no first.
	if ok, err := direct.SetOnceToken(t.Context(), "sentry-webhook:stalled", "tok-2", time.Hour); ok || err != nil {
		t.Fatalf("SetOnceToken of another delivery: got %v, %v, want false (the stalled one was applied)", ok, err)
	}
	if err := direct.ForgetOnce(t.Context(), "sentry-webhook:stalled", "tok-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetOnce(t.Context(), "sentry-webhook:stalled", "tok-1"); err != nil {
		t.Fatalf("ForgetOnce: %v", err)
	}
	if ok, err := direct.SetOnce(t.Context(), "sentry-webhook:stalled", time.Hour); !ok || err != nil {
		t.Errorf("SetOnce once forgotten: got %v, %v, want true", ok, err)
	}
}

// TestForgetOnceBeforeDelayedSet holds a SetOnceToken back on its way to
// Redis until its caller gave up and forgot its token, on another
// connection, finding nothing to forget: when the set then runs, it must
// set nothing, or the key stays set and the delivery's resend, with a
// token of its own, is dropped as a duplicate.
func TestForgetOnceBeforeDelayedSet(t *testing.T) {
	srv := redisserver.Start(t)
	proxy := newFaultProxy(t, srv.Addr())
	prefix := newPrefix()
	s := openStore(t, redis.Options{URL: proxy.URL(), Prefix: prefix})
	direct := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix})
	const key = "sentry-webhook:delayed"

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	release := proxy.holdNextRequest(t, key, cancel)
	if _, err := s.SetOnceToken(ctx, key, "tok-1", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("SetOnceToken held back: got %v, want context.Canceled", err)
	}
	if err := s.ForgetOnce(t.Context(), key, "tok-1"); err != nil {
		t.Fatalf("ForgetOnce: %v", err)
	}
	if got := release(); got != ":0\r\n" {
		t.Errorf("the delayed SetOnceToken's reply: got %q, want \":0\\r\\n\" (not set: its token was forgotten)", got)
	}
	if ok, err := direct.SetOnceToken(t.Context(), key, "tok-2", time.Hour); !ok || err != nil {
		t.Fatalf("SetOnceToken of the resend: got %v, %v, want true (the key is not left set)", ok, err)
	}
	if ok, err := direct.SetOnceToken(t.Context(), key, "tok-3", time.Hour); ok || err != nil {
		t.Errorf("SetOnceToken of a third delivery: got %v, %v, want false (the resend's key holds)", ok, err)
	}
}

// TestCancelWhileReplyHangs cancels calls whose reply Redis keeps back on
// a connection it leaves open: go-redis would wait for its read timeout,
// set here far beyond the test's own, so a call not given up on when its
// context is cancelled fails the test by its timeout. A write given up on
// is a lost reply: the lease Acquire may have taken is given back.
func TestCancelWhileReplyHangs(t *testing.T) {
	srv := redisserver.Start(t)
	proxy := newFaultProxy(t, srv.Addr())
	prefix := newPrefix()
	s := openStore(t, redis.Options{URL: proxy.URL(), Prefix: prefix, ReadTimeout: time.Hour})
	direct := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix})
	if err := direct.Signal(t.Context(), "hang", "cancel", "ana", time.Minute); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, match string
		call        func(context.Context) error
		after       func(t *testing.T) // checks what the call left
	}{
		{"Acquire", "deploy/hang", func(ctx context.Context) error {
			_, err := s.Acquire(ctx, "deploy/hang", "bot-1", time.Minute)
			return err
		}, func(t *testing.T) {
			acquireOnceGivenBack(t, direct, "deploy/hang")
		}},
		{"TakeSignal", "hang:cancel", func(ctx context.Context) error {
			_, _, err := s.TakeSignal(ctx, "hang", "cancel")
			return err
		}, func(t *testing.T) {
			if v, ok, err := s.TakeSignal(t.Context(), "hang", "cancel"); err != nil || !ok || v != "ana" {
				t.Errorf("the next TakeSignal: got %q, %v, %v; want ana's cancel", v, ok, err)
			}
		}},
		{"Holder", "deploy/read", func(ctx context.Context) error {
			_, err := s.Holder(ctx, "deploy/read")
			return err
		}, func(*testing.T) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			before := proxy.Faults()
			proxy.hangNextReply(tc.match, cancel)
			err := tc.call(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s with its reply hung: got %v, want context.Canceled", tc.name, err)
			}
			if got := proxy.Faults() - before; got != 1 {
				t.Fatalf("replies kept back: got %d, want 1 (the test did not exercise a hung reply)", got)
			}
			tc.after(t)
		})
	}
}

// TestCancelledAcquireReturnsAtOnce: an Acquire whose caller gives up
// while Redis does not answer returns the context's error at once, not
// after trying to give the lease back, which Redis cannot do either then:
// Redis is paused from the moment it took the lease until Acquire has
// returned. Acquire used to wait for that give-back until its own
// timeout, 2 s, and then add that the lease may stay taken. Once Redis
// answers again, the lease is given back behind the caller.
func TestCancelledAcquireReturnsAtOnce(t *testing.T) {
	srv := redisserver.Start(t)
	t.Cleanup(srv.Resume)
	proxy := newFaultProxy(t, srv.Addr())
	prefix := newPrefix()
	s := openStore(t, redis.Options{URL: proxy.URL(), Prefix: prefix})
	direct := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	proxy.hangNextReply("deploy/paused", func() {
		srv.Pause()
		cancel()
	})
	_, err := s.Acquire(ctx, "deploy/paused", "bot-1", time.Minute)
	srv.Resume()
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "stay taken") {
		t.Fatalf("Acquire given up on a paused Redis: got %v, want the context's error, returned without waiting for the lease to be given back", err)
	}
	if proxy.Faults() != 1 {
		t.Fatalf("replies kept back: got %d, want 1 (the test did not exercise a hung reply)", proxy.Faults())
	}
	acquireOnceGivenBack(t, direct, "deploy/paused")
}

// acquireOnceGivenBack takes key for bot-2 as soon as the lease a given-up
// Acquire took is given back, which happens behind its caller; it fails t
// if it is still held after a deadline.
func acquireOnceGivenBack(t *testing.T, s *redis.Store, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Acquire(t.Context(), key, "bot-2", time.Minute)
		if err == nil {
			return
		}
		var he *deploy.LeaseHeldError
		if !errors.As(err, &he) || time.Now().After(deadline) {
			t.Fatalf("Acquire after the given-up one: got %v, want the lease given back", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
