package redis_test

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

// seed gives s what a reset takes away: lock, bob's grant of deployer (as
// old as the lock), and the lease of web/prod, which it returns.
func seed(t *testing.T, s *redis.Store, lock deploy.Lock) deploy.Lease {
	t.Helper()
	ctx := t.Context()
	if err := s.PutLock(ctx, lock); err != nil {
		t.Fatalf("PutLock: %v", err)
	}
	if err := s.PutGrant(ctx, acl.Grant{User: "bob", Role: "deployer", GrantedBy: "ana", Created: lock.Created}); err != nil {
		t.Fatalf("PutGrant: %v", err)
	}
	held, err := s.Acquire(ctx, deploy.LeaseKey("web", "prod"), "deploy 1", time.Minute)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return held
}

// keysOf lists, sorted, the keys under prefix, to tell that nothing was
// written.
func keysOf(t *testing.T, rdb *goredis.Client, prefix string) []string {
	t.Helper()
	keys, err := rdb.Keys(t.Context(), prefix+"*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	slices.Sort(keys)
	return keys
}

// assertReset fails unless err is a reset store's: code Unavailable,
// wrapping redis.ErrStoreReset and deploy.ErrStoreReset, saying so.
func assertReset(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got no error, want the store's reset", what)
	case !errors.Is(err, redis.ErrStoreReset) || !errors.Is(err, deploy.ErrStoreReset):
		t.Errorf("%s: got %v, want an error wrapping ErrStoreReset", what, err)
	case errs.CodeOf(err) != errs.Unavailable:
		t.Errorf("%s: got code %s, want %s", what, errs.CodeOf(err), errs.Unavailable)
	case !strings.HasPrefix(errs.Message(err), "the state store was reset, so nothing was run: its id is gone (Redis restarted without persistence, was flushed, or failed over to an empty replica), and with it its locks, grants and history; restart the bot"):
		t.Errorf("%s: got message %q, want the reset's", what, errs.Message(err))
	}
}

// TestStoreReset wipes Redis under an open store, as a restart without
// persistence, a FLUSHALL or a failover to an empty replica do: every
// gate read, lease and fence check refuses, with the reset's message,
// and writes nothing more; a store opened afterwards starts afresh.
func TestStoreReset(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset func(t *testing.T, srv *redisserver.Server, rdb *goredis.Client, opt redis.Options)
	}{
		{"flushall", func(t *testing.T, _ *redisserver.Server, rdb *goredis.Client, _ redis.Options) {
			if err := rdb.FlushAll(t.Context()).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}
		}},
		{"restart without persistence", func(t *testing.T, srv *redisserver.Server, _ *goredis.Client, _ redis.Options) {
			srv.Restart(t)
		}},
		{"another replica restarted on the empty store", func(t *testing.T, _ *redisserver.Server, rdb *goredis.Client, opt redis.Options) {
			if err := rdb.FlushAll(t.Context()).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}
			opt.Log = nil
			openStore(t, opt) // makes a new id
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			rdb := directClient(t, srv)
			var logs syncbuf.Buffer
			opt := redis.Options{URL: srv.URL(), Prefix: newPrefix(), Log: slog.New(slog.NewTextHandler(&logs, nil))}
			ctx := t.Context()
			s := openStore(t, opt)
			now := time.Now()
			held := seed(t, s, deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "db maintenance", Created: now})

			tc.reset(t, srv, rdb, opt)
			before := keysOf(t, rdb, opt.Prefix)

			_, err := s.Locks(ctx)
			assertReset(t, "Locks", err)
			_, err = s.Grants(ctx)
			assertReset(t, "Grants", err)
			assertReset(t, "Check of a lease held before", held.Check(ctx))
			assertReset(t, "Renew of a lease held before", held.Renew(ctx))
			_, err = s.Acquire(ctx, deploy.LeaseKey("web", "prod"), "deploy 2", time.Minute)
			assertReset(t, "Acquire", err)
			assertReset(t, "PutRecord", s.PutRecord(ctx, &deploy.Record{ID: "r1", App: "web", Env: "prod", Started: now, Outcome: deploy.OutcomeRunning}))
			assertReset(t, "AppendAudit", s.AppendAudit(ctx, &audit.Entry{Time: now, User: "bob", Command: "deploy web 2 to prod", Decision: audit.Refused}))
			assertReset(t, "PutLock", s.PutLock(ctx, deploy.Lock{App: "web", Owner: "bob", Created: now}))
			assertReset(t, "Ping", s.Ping(ctx))
			assertReset(t, "Writable", s.Writable(ctx))

			if after := keysOf(t, rdb, opt.Prefix); !slices.Equal(after, before) {
				t.Errorf("keys after the refused calls: got %q, want %q (nothing written)", after, before)
			}
			if got := strings.Count(logs.String(), "level=ERROR"); got != 1 {
				t.Errorf("ERROR lines: got %d, want 1 for the store; log:\n%s", got, logs.String())
			}
			if !strings.Contains(logs.String(), "state store was reset") {
				t.Errorf("log: got %q, want it to say the state store was reset", logs.String())
			}

			// A restarted bot accepts the empty store.
			opt.Log = nil
			s2 := openStore(t, opt)
			locks, err := s2.Locks(ctx)
			if err != nil || len(locks) != 0 {
				t.Fatalf("Locks of a store opened afterwards: got %v, %v, want none, no error", locks, err)
			}
			l, err := s2.Acquire(ctx, deploy.LeaseKey("web", "prod"), "deploy 3", time.Minute)
			if err != nil {
				t.Fatalf("Acquire of a store opened afterwards: %v", err)
			}
			if err := l.Check(ctx); err != nil {
				t.Errorf("Check of a store opened afterwards: %v", err)
			}
			if err := s2.PutLock(ctx, deploy.Lock{App: "web", Owner: "ana", Created: now}); err != nil {
				t.Fatalf("PutLock of a store opened afterwards: %v", err)
			}
			if locks, err := s2.Locks(ctx); err != nil || len(locks) != 1 {
				t.Errorf("Locks of a store opened afterwards: got %v, %v, want the lock taken again", locks, err)
			}
		})
	}
}

// TestStoreIDOfEarlierVersion opens a prefix an earlier Switchman wrote,
// with data but no store id: it opens, keeps the data and gets an id.
func TestStoreIDOfEarlierVersion(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := directClient(t, srv)
	prefix := newPrefix()
	ctx := t.Context()
	// What an earlier Switchman, which set no store id, left.
	lock := `{"app":"web","env":"prod","owner":"ana","reason":"db maintenance","created":"2026-01-02T03:04:05Z"}`
	if err := rdb.Set(ctx, prefix+"schema", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, prefix+"locks", "web\x00prod", lock).Err(); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix})
	locks, err := s.Locks(ctx)
	if err != nil {
		t.Fatalf("Locks: %v", err)
	}
	if len(locks) != 1 || locks[0].Owner != "ana" || locks[0].Reason != "db maintenance" {
		t.Errorf("Locks: got %+v, want the earlier version's lock of ana", locks)
	}
	if n, err := rdb.Exists(ctx, prefix+"store").Result(); err != nil || n != 1 {
		t.Errorf("store id key: got %d, %v, want it set by Open", n, err)
	}
}

// TestPersistenceWarning checks that Open warns of a Redis without an
// append-only file, and opens all the same.
func TestPersistenceWarning(t *testing.T) {
	for _, tc := range []struct {
		name       string
		appendOnly bool
		warn       bool
	}{
		{"appendonly no", false, true},
		{"appendonly yes", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.StartWith(t, redisserver.Options{AppendOnly: tc.appendOnly})
			var logs syncbuf.Buffer
			openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix(), Log: slog.New(slog.NewTextHandler(&logs, nil))})
			got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "appendonly no")
			if got != tc.warn {
				t.Errorf("warned: got %v, want %v; log:\n%s", got, tc.warn, logs.String())
			}
		})
	}
}

// TestStoreResetFirstCall wipes Redis under an open store and makes one
// call, the first since the wipe, so that no other call has noticed the
// reset before it: each verifies the store's id itself, refuses with the
// reset's error, answers nothing from the empty store and writes nothing.
// Every method that reads or writes the store's data is here.
func TestStoreResetFirstCall(t *testing.T) {
	now := time.Now()
	lock := deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "db maintenance", Created: now}
	car := trainstore.Car{App: "web", Build: "2", Env: "prod", User: "ana", Boarded: now}
	// none fails the test when a refused call answered something all the
	// same.
	none := func(t *testing.T, what string, got any, empty bool) {
		t.Helper()
		if !empty {
			t.Errorf("%s: got %v, want nothing", what, got)
		}
	}
	for _, tc := range []struct {
		name string
		call func(t *testing.T, s *redis.Store, held deploy.Lease) error
	}{
		{"Holder", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			h, err := s.Holder(t.Context(), deploy.LeaseKey("web", "prod"))
			if h != "" {
				t.Errorf("Holder: got %q, want none", h)
			}
			return err
		}},
		{"Check", func(t *testing.T, _ *redis.Store, held deploy.Lease) error {
			return held.Check(t.Context())
		}},
		{"Renew", func(t *testing.T, _ *redis.Store, held deploy.Lease) error {
			return held.Renew(t.Context())
		}},
		{"Release", func(t *testing.T, _ *redis.Store, held deploy.Lease) error {
			return held.Release(t.Context())
		}},
		{"ReplaceLock of none", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			next := deploy.Lock{App: "api", Env: "prod", Owner: "bob", Created: now}
			cur, ok, err := s.ReplaceLock(t.Context(), nil, next)
			if ok || cur != nil {
				t.Errorf("ReplaceLock: got %v, %v, want no lock and not replaced", cur, ok)
			}
			return err
		}},
		{"ReplaceLock of the lock", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			next := lock
			next.Owner = "bob"
			cur, ok, err := s.ReplaceLock(t.Context(), &lock, next)
			if ok || cur != nil {
				t.Errorf("ReplaceLock: got %v, %v, want no lock and not replaced", cur, ok)
			}
			return err
		}},
		{"ReplaceLock of an expired lock", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			prev := lock
			prev.Expires = now.Add(-time.Minute)
			cur, ok, err := s.ReplaceLock(t.Context(), &prev, lock)
			if ok || cur != nil {
				t.Errorf("ReplaceLock: got %v, %v, want no lock and not replaced", cur, ok)
			}
			return err
		}},
		{"DeleteLock", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			_, err := s.DeleteLock(t.Context(), "web", "prod")
			return err
		}},
		{"DeleteGrant", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			_, err := s.DeleteGrant(t.Context(), "bob", "deployer", "", "")
			return err
		}},
		{"PutLock", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.PutLock(t.Context(), deploy.Lock{App: "api", Owner: "bob", Reason: "freeze", Created: now})
		}},
		{"PutGrant", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.PutGrant(t.Context(), acl.Grant{User: "carl", Role: "deployer", GrantedBy: "ana", Created: now})
		}},
		{"Locks", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			locks, err := s.Locks(t.Context())
			none(t, "Locks", locks, len(locks) == 0)
			return err
		}},
		{"Grants", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			grants, err := s.Grants(t.Context())
			none(t, "Grants", grants, len(grants) == 0)
			return err
		}},
		{"Acquire", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			l, err := s.Acquire(t.Context(), deploy.LeaseKey("web", "prod"), "deploy 2", time.Minute)
			none(t, "Acquire", l, l == nil)
			return err
		}},
		{"CheckIn", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.CheckIn(t.Context(), "ana", now.Add(time.Hour))
		}},
		{"CheckOut", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.CheckOut(t.Context(), "ana")
		}},
		{"Present", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			present, err := s.Present(t.Context())
			none(t, "Present", present, len(present) == 0)
			return err
		}},
		{"SetOnce", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			set, err := s.SetOnce(t.Context(), "slack:Ev1", time.Minute)
			none(t, "SetOnce", set, !set)
			return err
		}},
		{"SetOnce for good", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			set, err := s.SetOnce(t.Context(), "retention:due", 0)
			none(t, "SetOnce", set, !set)
			return err
		}},
		{"SetOnceToken", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			set, err := s.SetOnceToken(t.Context(), "sentry-webhook:1", "tok-1", time.Minute)
			none(t, "SetOnceToken", set, !set)
			return err
		}},
		{"PutRecord", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.PutRecord(t.Context(), &deploy.Record{ID: "r1", App: "web", Env: "prod", Started: now, Outcome: deploy.OutcomeRunning})
		}},
		{"Record", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			r, err := s.Record(t.Context(), "r1")
			none(t, "Record", r, r == nil)
			return err
		}},
		{"Records", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			recs, err := s.Records(t.Context(), deploy.Filter{Limit: 20})
			none(t, "Records", recs, len(recs) == 0)
			return err
		}},
		{"Records running", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			recs, err := s.Records(t.Context(), deploy.Filter{Outcome: deploy.OutcomeRunning})
			none(t, "Records", recs, len(recs) == 0)
			return err
		}},
		{"TrimRecords", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			n, err := s.TrimRecords(t.Context(), now, 0)
			none(t, "TrimRecords", n, n == 0)
			return err
		}},
		{"AppendAudit", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			e := audit.Entry{Time: now, User: "bob", Command: "deploy web 2 to prod", Decision: audit.Refused}
			err := s.AppendAudit(t.Context(), &e)
			none(t, "AppendAudit's Seq", e.Seq, e.Seq == 0)
			return err
		}},
		{"Audit", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			entries, err := s.Audit(t.Context(), audit.Query{Limit: 20})
			none(t, "Audit", entries, len(entries) == 0)
			return err
		}},
		{"TrimAudit", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			n, err := s.TrimAudit(t.Context(), now)
			none(t, "TrimAudit", n, n == 0)
			return err
		}},
		{"Signal", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.Signal(t.Context(), "r1", "cancel", "ana", time.Minute)
		}},
		{"SignalFirst", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			v, ok, err := s.SignalFirst(t.Context(), "r1", "confirm", "ok ana", time.Minute)
			none(t, "SignalFirst", v, v == "" && !ok)
			return err
		}},
		{"TakeSignal", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			v, ok, err := s.TakeSignal(t.Context(), "r1", "cancel")
			none(t, "TakeSignal", v, v == "" && !ok)
			return err
		}},
		{"Board", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			old, err := s.Board(t.Context(), "weekly", car, 0, nil)
			none(t, "Board", old, old == nil)
			return err
		}},
		{"Leave", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			c, err := s.Leave(t.Context(), "weekly", "web", "", time.Time{})
			none(t, "Leave", c, c == trainstore.Car{})
			return err
		}},
		{"Cars", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			cars, err := s.Cars(t.Context(), "weekly")
			none(t, "Cars", cars, len(cars) == 0)
			return err
		}},
		{"ReturnCars", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.ReturnCars(t.Context(), "weekly", []trainstore.Car{car})
		}},
		{"MarkRun", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.MarkRun(t.Context(), "weekly", "depart", now)
		}},
		{"LastRun", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			at, err := s.LastRun(t.Context(), "weekly", "depart")
			none(t, "LastRun", at, at.IsZero())
			return err
		}},
		{"Trains", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			names, err := s.Trains(t.Context())
			none(t, "Trains", names, len(names) == 0)
			return err
		}},
		{"PutWatch", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.PutWatch(t.Context(), watchstore.Watch{ID: "r1", App: "web", Env: "prod", Fence: 1, State: []byte(`{}`)})
		}},
		{"DeleteWatch", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			return s.DeleteWatch(t.Context(), "r1", 1)
		}},
		{"Watch", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			w, err := s.Watch(t.Context(), "r1")
			none(t, "Watch", w, w.ID == "")
			return err
		}},
		{"Watches", func(t *testing.T, s *redis.Store, _ deploy.Lease) error {
			ws, err := s.Watches(t.Context())
			none(t, "Watches", ws, len(ws) == 0)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			rdb := directClient(t, srv)
			ctx := t.Context()
			prefix := newPrefix()
			s := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix})
			held := seed(t, s, lock)
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}

			assertReset(t, tc.name, tc.call(t, s, held))
			if keys := keysOf(t, rdb, prefix); len(keys) != 0 {
				t.Errorf("keys after the refused call: got %q, want none (nothing written)", keys)
			}
		})
	}
}
