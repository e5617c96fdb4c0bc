package redis_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/store/storetest"
	"github.com/switchman-bot/switchman/internal/testenv/ports"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// prefixes hands every store of the test binary its own key prefix, so
// that stores sharing a server share nothing.
var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("test%d:", prefixes.Add(1)) }

func TestContract(t *testing.T) {
	srv := redisserver.Start(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		return openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix(), MaxClockSkew: -1, Now: now})
	})
}

// openStore opens a store and closes it when the test ends.
func openStore(t testing.TB, opt redis.Options) *redis.Store {
	t.Helper()
	s, err := redis.Open(t.Context(), opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := ports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

const password = "s3cret-Pa55"

// assertNoPassword fails if password shows in err or s.
func assertNoPassword(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, password) {
		t.Errorf("%s: %q shows the password", what, s)
	}
}

func assertUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, redis.ErrUnavailable) {
		t.Errorf("%s: got %v, want an error wrapping redis.ErrUnavailable", what, err)
		return
	}
	if code := errs.CodeOf(err); code != errs.Unavailable {
		t.Errorf("%s: got code %s, want %s", what, code, errs.Unavailable)
	}
	if msg := errs.Message(err); msg != "state store unreachable" {
		t.Errorf("%s: got message %q, want %q", what, msg, "state store unreachable")
	}
}

func TestOpenUnreachable(t *testing.T) {
	addr := freeAddr(t)
	// The port stays closed: Open ends only by giving up, whatever the
	// pace, and a store that retried forever would never return.
	s, err := redis.Open(t.Context(), redis.Options{URL: "redis://switchman:" + password + "@" + addr + "/0"})
	if err == nil {
		s.Close()
		t.Fatal("Open of a port nothing listens on: got nil error")
	}
	assertUnavailable(t, "Open", err)
	if !strings.Contains(err.Error(), "state store unreachable") || !strings.Contains(err.Error(), addr) {
		t.Errorf("Open: got %q, want it to say \"state store unreachable\" and name %s", err, addr)
	}
	assertNoPassword(t, "Open error", err.Error())
}

// TestOpenInvalidURLSaysWhy: a URL that does not parse is refused with
// advice that fits it: a password holding any character net/url refuses
// in user info (a ^ or a space as much as a / ? or #) must be
// percent-encoded, and a URL without user info, which holds no password,
// is refused with what is wrong in it, not advice about a password.
func TestOpenInvalidURLSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name, url, want string
		secrets         []string
	}{
		{"caret in the password", "redis://:s3c^ret@127.0.0.1:6390/0", "such as / ? # % ^ or a space", []string{"s3c", "ret"}},
		{"space in the password", "redis://switchman:s3c ret@127.0.0.1:6390/0", "such as / ? # % ^ or a space", []string{"s3c", "ret"}},
		{"bad port, no password", "redis://127.0.0.1:6390x/0", `state store url is not valid: invalid port ":6390x" after host`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redis.Open(t.Context(), redis.Options{URL: tc.url})
			if err == nil {
				s.Close()
				t.Fatal("Open: got no error")
			}
			if code := errs.CodeOf(err); code != errs.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: got %v (code %s), want %s saying %q", err, code, errs.Invalid, tc.want)
			}
			if tc.secrets == nil && strings.Contains(err.Error(), "password") {
				t.Errorf("Open: got %v, want no word of a password the URL does not have", err)
			}
			for _, secret := range tc.secrets {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Open: %v shows %q, a part of the password", err, secret)
				}
			}
		})
	}
}

func TestOpenInvalidURL(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		// secrets are the parts of the password no message may show;
		// nil: password.
		secrets []string
	}{
		{"empty", "", nil},
		{"bad port", "redis://switchman:" + password + "@127.0.0.1:port/0", nil},
		{"bad db", "redis://switchman:" + password + "@127.0.0.1:6390/zero", nil},
		{"bad scheme", "http://switchman:" + password + "@127.0.0.1:6390/0", nil},
		{"bad option", "redis://switchman:" + password + "@127.0.0.1:6390/0?colour=blue", nil},
		// go-redis takes no password from the query, as some clients
		// do: such an option is refused, and its value is no more shown
		// than a password in the user info.
		{"password as an option", "redis://127.0.0.1:6390/0?password=" + password, nil},
		{"password as an option, and in the user info", "redis://switchman:" + password + "@127.0.0.1:6390/0?password=" + password, nil},
		{"password as an option after a known one", "redis://127.0.0.1:6390/0?max_retries=2&auth=" + password, nil},
		{"password as an option, percent-encoded", "redis://127.0.0.1:6390/0?password=" + url.QueryEscape(password+"/x"), []string{password}},
		{"control character", "redis://switchman:" + password + "@127.0.0.1:6390/0\x7f", nil},
		// A password not percent-encoded: net/url reads a part of it as
		// the port, the path, the query or the fragment.
		{"slash in the password", "redis://switchman:s3cret/Pa55@127.0.0.1:6390/0", []string{"s3cret", "Pa55"}},
		{"slash after digits in the password", "redis://:4242/" + password + "@127.0.0.1:6390/0", []string{"4242", password}},
		{"question mark in the password", "redis://:4242?" + password + "@127.0.0.1:6390/0", []string{"4242", password}},
		{"hash in the password", "redis://:4242#" + password + "@127.0.0.1:6390/0", []string{"4242", password}},
		{"question mark in the password, then an option", "redis://:4242?s3=cret@127.0.0.1:6390/0", []string{"4242", "s3=cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secrets := tc.secrets
			if secrets == nil {
				secrets = []string{password}
			}
			s, err := redis.Open(t.Context(), redis.Options{URL: tc.url})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): got nil error", tc.url)
			}
			if code := errs.CodeOf(err); code != errs.Invalid {
				t.Errorf("Open: got code %s (%v), want %s", code, err, errs.Invalid)
			}
			for what, got := range map[string]string{"Open error": err.Error(), "Options.String": redis.Options{URL: tc.url}.String()} {
				for _, secret := range secrets {
					if strings.Contains(got, secret) {
						t.Errorf("%s: %q shows %q, a part of the password", what, got, secret)
					}
				}
			}
		})
	}
}

func TestPassword(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{Password: password})
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix()})
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	assertNoPassword(t, "Store.String", s.String())
	assertNoPassword(t, "Options.String", redis.Options{URL: srv.URL()}.String())
	if !strings.Contains(s.String(), srv.Addr()) {
		t.Errorf("Store.String: got %q, want it to name %s", s, srv.Addr())
	}

	for _, tc := range []struct{ name, url string }{
		{"wrong password", "redis://default:wrong-" + password + "@" + srv.Addr() + "/0"},
		{"no password", "redis://" + srv.Addr() + "/0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redis.Open(t.Context(), redis.Options{URL: tc.url})
			if err == nil {
				s.Close()
				t.Fatal("Open: got nil error")
			}
			if errors.Is(err, redis.ErrUnavailable) {
				t.Errorf("Open: got %v, want an authentication error, not unreachable", err)
			}
			assertNoPassword(t, "Open error", err.Error())
		})
	}
}

// TestClientNameWithAt: a query may hold an @ in client_name, whose value
// is text; the store opens with it and Redis knows the client by it.
func TestClientNameWithAt(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{Password: password})
	const name = "deploy@switchman"
	s := openStore(t, redis.Options{URL: srv.URL() + "?client_name=" + name, Prefix: newPrefix()})
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Password: password})
	defer rdb.Close()
	list, err := rdb.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, " name="+name+" ") {
		t.Errorf("CLIENT LIST: got\n%s\nwant a client named %s", list, name)
	}
}

func TestTLS(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{TLS: true, Password: password})
	if !strings.HasPrefix(srv.URL(), "rediss://") {
		t.Fatalf("URL: got %q, want rediss://", srv.URL())
	}
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix(), TLSConfig: &tls.Config{RootCAs: srv.RootCAs()}})
	if ok, err := s.SetOnce(t.Context(), "k", time.Minute); !ok || err != nil {
		t.Fatalf("SetOnce over TLS: got %v, %v, want true, nil", ok, err)
	}

	t.Run("unknown CA", func(t *testing.T) {
		s, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
		if err == nil {
			s.Close()
			t.Fatal("Open with the system roots: got nil error, want the certificate refused")
		}
		assertNoPassword(t, "Open error", err.Error())
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Open: got %q, want it to say why the certificate was refused", err)
		}
	})
	// go-redis reads ?skip_verify=true as "trust any certificate": whoever
	// can answer for the Redis's address would hold the locks, grants and
	// audit trail. Refused, check-config's CheckURL too, with what to do
	// instead, whether or not a CA is given (which dropped it unsaid).
	for _, withCA := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip_verify, CA given %v", withCA), func(t *testing.T) {
			u := srv.URL() + "?skip_verify=true"
			opt := redis.Options{URL: u}
			if withCA {
				opt.TLSConfig = &tls.Config{RootCAs: srv.RootCAs()}
			}
			s, err := redis.Open(t.Context(), opt)
			if err == nil {
				s.Close()
				t.Fatal("Open with ?skip_verify=true: got nil error, want it refused")
			}
			cerr := redis.CheckURL(u, withCA)
			for what, err := range map[string]error{"Open": err, "CheckURL": cerr} {
				if code := errs.CodeOf(err); code != errs.Invalid || !strings.Contains(errs.Message(err), "skip_verify") || !strings.Contains(errs.Message(err), "ca_file") {
					t.Errorf("%s: got %v (code %s), want code %s naming skip_verify and ca_file", what, err, code, errs.Invalid)
				}
				if err != nil {
					assertNoPassword(t, what+" error", err.Error())
				}
			}
		})
	}
	t.Run("plain url", func(t *testing.T) {
		_, err := redis.Open(t.Context(), redis.Options{URL: strings.Replace(srv.URL(), "rediss://", "redis://", 1),
			TLSConfig: &tls.Config{RootCAs: srv.RootCAs()}})
		if code := errs.CodeOf(err); code != errs.Invalid {
			t.Errorf("Open of redis:// with a TLS config: got %v (code %s), want code %s", err, code, errs.Invalid)
		}
	})
}

func TestSchemaVersion(t *testing.T) {
	srv := redisserver.Start(t)
	prefix := newPrefix()
	rdb := directClient(t, srv)
	if err := rdb.Set(t.Context(), prefix+"schema", "99", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Prefix: prefix})
	if err == nil {
		s.Close()
		t.Fatal("Open of a prefix with schema 99: got nil error")
	}
	if !strings.Contains(err.Error(), `schema version "99"`) {
		t.Errorf("Open: got %q, want it to name the version", err)
	}
	// Another prefix on the same server is another store.
	openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix()})
}

// TestOpenReadOnly: opened to be read, a prefix without a store is an
// error of code NotFound, and nothing is written under it; one with a
// store opens as usual.
func TestOpenReadOnly(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := directClient(t, srv)
	empty := newPrefix()
	s, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Prefix: empty, ReadOnly: true})
	if err == nil {
		s.Close()
		t.Fatal("Open read-only of a prefix without a store: got nil error")
	}
	if code := errs.CodeOf(err); code != errs.NotFound || !strings.Contains(err.Error(), fmt.Sprintf("prefix %q holds no Switchman state store", empty)) {
		t.Errorf("Open read-only: got %q (code %s), want code %s saying the prefix holds no store", err, code, errs.NotFound)
	}
	if keys, err := rdb.Keys(t.Context(), empty+"*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("keys under the prefix: got %v, %v; want none", keys, err)
	}
	prefix := newPrefix()
	openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix})
	openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix, ReadOnly: true})
}

// directClient is a plain client of srv, to look behind the store's back.
func directClient(t testing.TB, srv *redisserver.Server) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(o)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestRestart stops Redis under a store in use: every call fails with
// ErrUnavailable while it is down, and works again once it is back,
// through the same Store.
func TestRestart(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{AppendOnly: true})
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix(), ReadTimeout: 500 * time.Millisecond})
	ctx := t.Context()
	rec := &deploy.Record{ID: "d1", App: "accounting", Env: "production", Started: time.Now().UTC().Round(0), Outcome: deploy.OutcomeRunning}
	if err := s.PutRecord(ctx, rec); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	l, err := s.Acquire(ctx, "accounting/production", "bot-1", time.Minute)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}

	srv.Kill()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"PutRecord", func() error { return s.PutRecord(ctx, rec) }},
		{"Record", func() error { _, err := s.Record(ctx, "d1"); return err }},
		{"Records", func() error { _, err := s.Records(ctx, deploy.Filter{}); return err }},
		{"Locks", func() error { _, err := s.Locks(ctx); return err }},
		{"AppendAudit", func() error { return s.AppendAudit(ctx, &audit.Entry{Command: "/status"}) }},
		{"SetOnce", func() error { _, err := s.SetOnce(ctx, "k", time.Minute); return err }},
		{"Acquire", func() error { _, err := s.Acquire(ctx, "billing/production", "bot-1", time.Minute); return err }},
		{"Lease.Check", func() error { return l.Check(ctx) }},
	}
	// Redis stays down: each call ends only by giving up, whatever the
	// pace.
	for _, c := range calls {
		err := c.call()
		assertUnavailable(t, c.name+" while Redis is down", err)
	}

	srv.Restart(t)
	// The client reconnects by itself; its dialer may wait a second before
	// trying again.
	deadline := time.Now().Add(10 * time.Second)
	for err := s.Ping(ctx); err != nil; err = s.Ping(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("Ping after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Errorf("%s after restart: %v", c.name, err)
		}
	}
	// The append-only file kept the data, the lease included.
	got, err := s.Record(ctx, "d1")
	if err != nil || got.App != "accounting" {
		t.Errorf("Record after restart: got %+v, %v", got, err)
	}
	if _, err := s.Acquire(ctx, "accounting/production", "bot-2", time.Minute); !errors.Is(err, deploy.ErrLeaseHeld) {
		t.Errorf("Acquire of a lease held before the restart: got %v, want deploy.ErrLeaseHeld", err)
	}
}

// TestPaused freezes Redis: calls give up after the read timeout with
// ErrUnavailable, or at the context's deadline if that comes first.
func TestPaused(t *testing.T) {
	srv := redisserver.Start(t)
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix(), ReadTimeout: 200 * time.Millisecond})
	ctx := t.Context()
	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()

	// Redis stays paused and ctx has no deadline: only the read timeout
	// can end the call, whatever the pace.
	_, err := s.SetOnce(ctx, "k", time.Minute)
	assertUnavailable(t, "SetOnce on a paused Redis", err)

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	// The error, not the time taken, shows that the deadline ended it.
	err = s.Ping(short)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping with a 100ms deadline on a paused Redis: got %v, want context.DeadlineExceeded", err)
	}

	srv.Resume()
	resumed = true
	deadline := time.Now().Add(10 * time.Second)
	for err := s.Ping(ctx); err != nil; err = s.Ping(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("Ping after resume: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The SetOnce whose reply was never read may have been applied: a
	// second one is false, or true if it was not.
	if _, err := s.SetOnce(ctx, "k", time.Minute); err != nil {
		t.Errorf("SetOnce after resume: %v", err)
	}
}

// TestReplicas runs two stores on one Redis, as two bot replicas.
func TestReplicas(t *testing.T) {
	srv := redisserver.Start(t)
	prefix := newPrefix()
	clock := storetest.NewClock(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
	replicas := []*redis.Store{
		openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix, MaxClockSkew: -1, Now: clock.Now}),
		openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix, MaxClockSkew: -1, Now: clock.Now}),
	}
	ctx := t.Context()
	const key, ttl = "accounting/production", time.Minute

	t.Run("race", func(t *testing.T) {
		const each = 16
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
			leases  []deploy.Lease
			held    []*deploy.LeaseHeldError
		)
		ready := make(chan struct{})
		for r, s := range replicas {
			for i := range each {
				holder := fmt.Sprintf("replica-%d/deploy-%d", r, i)
				wg.Go(func() {
					<-ready
					l, err := s.Acquire(ctx, key, holder, ttl)
					mu.Lock()
					defer mu.Unlock()
					var he *deploy.LeaseHeldError
					switch {
					case err == nil:
						winners = append(winners, holder)
						leases = append(leases, l)
					case errors.As(err, &he):
						held = append(held, he)
					default:
						t.Errorf("Acquire by %s: %v", holder, err)
					}
				})
			}
		}
		close(ready)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("winners: got %q, want exactly one", winners)
		}
		if len(held) != 2*each-1 {
			t.Errorf("refused: got %d, want %d", len(held), 2*each-1)
		}
		for _, he := range held {
			if he.Holder != winners[0] {
				t.Errorf("LeaseHeldError: got holder %q, want the winner %q", he.Holder, winners[0])
			}
		}
		// The other replica takes over once the lease is released.
		winner := leases[0]
		if err := winner.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		for _, s := range replicas {
			l, err := s.Acquire(ctx, key, "next", ttl)
			if err != nil {
				t.Fatalf("Acquire after Release: %v", err)
			}
			if l.Token() <= winner.Token() {
				t.Errorf("Token after Release: got %d, want more than %d", l.Token(), winner.Token())
			}
			if err := winner.Check(ctx); !errors.Is(err, deploy.ErrLeaseLost) {
				t.Errorf("Check of the released lease: got %v, want deploy.ErrLeaseLost", err)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
	})

	t.Run("shared state", func(t *testing.T) {
		a, b := replicas[0], replicas[1]
		lock := deploy.Lock{App: "billing", Owner: "ana", Reason: "quarter close", Created: clock.Now()}
		if err := a.PutLock(ctx, lock); err != nil {
			t.Fatalf("PutLock: %v", err)
		}
		if locks, err := b.Locks(ctx); err != nil || len(locks) != 1 || locks[0].Reason != lock.Reason {
			t.Errorf("Locks from the other replica: got %+v, %v", locks, err)
		}
		var seqs []uint64
		for i, s := range []*redis.Store{a, b, a} {
			e := &audit.Entry{User: "ana", Command: fmt.Sprintf("/status %d", i), Decision: audit.Allowed}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatalf("AppendAudit: %v", err)
			}
			seqs = append(seqs, e.Seq)
		}
		if !(seqs[0] < seqs[1] && seqs[1] < seqs[2]) {
			t.Errorf("Seq across replicas: got %v, want increasing", seqs)
		}
		if ok, err := a.SetOnce(ctx, "slack:Ev01", time.Hour); !ok || err != nil {
			t.Errorf("SetOnce: got %v, %v, want true", ok, err)
		}
		if ok, err := b.SetOnce(ctx, "slack:Ev01", time.Hour); ok || err != nil {
			t.Errorf("SetOnce of the same event on the other replica: got %v, %v, want false", ok, err)
		}
	})
}

// TestAuditStream checks that the audit trail is a stream a tool can
// follow, in append order, each entry with its Seq.
func TestAuditStream(t *testing.T) {
	srv := redisserver.Start(t)
	prefix := newPrefix()
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix})
	ctx := t.Context()
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for i, c := range []string{"/deploy a", "/lock b", "/status"} {
		// The second entry says it happened first.
		e := &audit.Entry{Time: at.Add(time.Duration(1-i%2*2) * time.Minute), User: "ana", Command: c, Decision: audit.Allowed}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := directClient(t, srv).XRange(ctx, prefix+"audit", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%v %v", m.Values["seq"], strings.Contains(fmt.Sprint(m.Values["entry"]), `"seq":`+fmt.Sprint(m.Values["seq"])+`,`)))
	}
	if want := []string{"1 true", "2 true", "3 true"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stream: got %q, want %q", got, want)
	}
}

// TestTokensAfterDataLoss wipes Redis between two acquisitions, each by a
// bot started after the wipe (a running one refuses, see TestStoreReset):
// the token still grows, as tokens follow the clock.
func TestTokensAfterDataLoss(t *testing.T) {
	srv := redisserver.Start(t)
	clock := storetest.NewClock(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
	opt := redis.Options{URL: srv.URL(), Prefix: newPrefix(), MaxClockSkew: -1, Now: clock.Now}
	ctx := t.Context()
	var last int64
	for i := range 3 {
		s := openStore(t, opt)
		l, err := s.Acquire(ctx, "accounting/production", "bot-1", time.Minute)
		if err != nil {
			t.Fatalf("Acquire %d: %v", i, err)
		}
		if l.Token() <= last {
			t.Errorf("token after %d wipes: got %d, want more than %d", i, l.Token(), last)
		}
		last = l.Token()
		if err := directClient(t, srv).FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
}

// TestRefusedWrites: a Redis that answers but takes no writes (a primary
// short of the replicas min-replicas-to-write asks for) is said to refuse
// writes, not to be unreachable, which would send people looking for a
// network fault. It stays a failure of code unavailable, as a Redis
// briefly unreachable is, so writes are tried again.
func TestRefusedWrites(t *testing.T) {
	srv := redisserver.Start(t)
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix()})
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.ConfigSet(t.Context(), "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	want := "state store redis at " + srv.Addr() + " refuses writes: NOREPLICAS Not enough good replicas to write."
	for _, tt := range []struct {
		name  string
		write func() error
	}{
		{"audit entry", func() error {
			return s.AppendAudit(t.Context(), &audit.Entry{User: "ana", Command: "lock deploys web", Decision: audit.Pending})
		}},
		{"lock", func() error {
			_, _, err := s.ReplaceLock(t.Context(), nil, deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "db work"})
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.write()
			if got := errs.Message(err); got != want {
				t.Errorf("message: got %q, want %q", got, want)
			}
			if !errors.Is(err, redis.ErrUnavailable) || errs.CodeOf(err) != errs.Unavailable {
				t.Errorf("got %v (code %s), want unavailable", err, errs.CodeOf(err))
			}
		})
	}
}

// TestReadsRefusedAtMaxmemory: a Redis at maxmemory refuses the MULTI
// each read is sent in, and so the read, with OOM. The read was said to
// fail with Redis's EXECABORT, which names no cause, and so was called
// unreachable; it says Redis refuses writes, and why.
func TestReadsRefusedAtMaxmemory(t *testing.T) {
	srv := redisserver.Start(t)
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: newPrefix()})
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.ConfigSet(t.Context(), "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.ConfigSet(context.Background(), "maxmemory", "0") })
	want := "state store redis at " + srv.Addr() + " refuses writes: OOM command not allowed when used memory > 'maxmemory'."
	for _, tt := range []struct {
		name string
		read func() error
	}{
		{"locks", func() error { _, err := s.Locks(t.Context()); return err }},
		{"grants", func() error { _, err := s.Grants(t.Context()); return err }},
		{"presence", func() error { _, err := s.Present(t.Context()); return err }},
		{"record", func() error { _, err := s.Record(t.Context(), "7"); return err }},
		{"lease holder", func() error { _, err := s.Holder(t.Context(), "web/prod"); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read()
			if got := errs.Message(err); got != want {
				t.Errorf("message: got %q, want %q", got, want)
			}
			if errs.CodeOf(err) != errs.Unavailable {
				t.Errorf("got %v (code %s), want unavailable", err, errs.CodeOf(err))
			}
		})
	}
}

// TestListingWhileWritesRefused: a Redis that answers reads but refuses
// writes (a primary short of its replicas, one demoted to a replica)
// still lists the locks, grants and check-ins in force. The listing drops
// the expired ones it meets as it goes; a drop Redis refuses failed the
// listing, so every permission check, and status, failed for an expired
// entry nobody asked about, while one without such an entry passed.
func TestListingWhileWritesRefused(t *testing.T) {
	srv := redisserver.Start(t)
	clock := storetest.NewClock(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
	prefix := newPrefix()
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix, MaxClockSkew: -1, Now: clock.Now})
	ctx := t.Context()
	now := clock.Now()
	for _, l := range []deploy.Lock{
		{App: "web", Env: "prod", Owner: "ana", Reason: "db work", Created: now},
		{App: "web", Env: "staging", Owner: "ana", Reason: "demo", Created: now, Expires: now.Add(time.Minute)},
	} {
		if _, _, err := s.ReplaceLock(ctx, nil, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []acl.Grant{
		{User: "bob", Role: "releaser", App: "web", GrantedBy: "ana", Created: now},
		{User: "cy", Role: "releaser", App: "web", GrantedBy: "ana", Created: now, Expires: now.Add(time.Minute)},
	} {
		if err := s.PutGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for user, until := range map[string]time.Time{"bob": now.Add(time.Hour), "cy": now.Add(time.Minute)} {
		if err := s.CheckIn(ctx, user, until); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Minute)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.ConfigSet(ctx, "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.ConfigSet(context.Background(), "min-replicas-to-write", "0") })

	tests := []struct {
		name string
		list func() (string, error)
		want string
	}{
		{"locks", func() (string, error) {
			ls, err := s.Locks(ctx)
			var got []string
			for _, l := range ls {
				got = append(got, l.Scope())
			}
			return strings.Join(got, ","), err
		}, deploy.Lock{App: "web", Env: "prod"}.Scope()},
		{"grants", func() (string, error) {
			gs, err := s.Grants(ctx)
			var got []string
			for _, g := range gs {
				got = append(got, g.User)
			}
			return strings.Join(got, ","), err
		}, "bob"},
		{"check-ins", func() (string, error) {
			p, err := s.Present(ctx)
			var got []string
			for user := range p {
				got = append(got, user)
			}
			return strings.Join(got, ","), err
		}, "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.list()
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q, no error", got, err, tt.want)
			}
		})
	}
	// Once Redis takes writes again, the next listing drops them.
	if err := rdb.ConfigSet(ctx, "min-replicas-to-write", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Locks(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.HLen(ctx, prefix+"locks").Result(); err != nil || n != 1 {
		t.Errorf("locks kept once Redis takes writes again: got %d, %v; want 1, the expired one dropped", n, err)
	}
}

// go-redis reads a timeout of 0 or less in the URL as none at all: a
// Redis that hangs would then block for good every call whose context has
// no deadline (a deploy's fencing check). Open and check-config's CheckURL
// refuse each, naming the option, rather than connect.
func TestNonPositiveURLTimeout(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{Password: password})
	for _, opt := range []string{"dial_timeout", "read_timeout", "write_timeout", "pool_timeout"} {
		for _, v := range []string{"-1", "-2", "0", "0s", "-3s"} {
			t.Run(opt+"="+v, func(t *testing.T) {
				u := srv.URL() + "?" + opt + "=" + v
				s, err := redis.Open(t.Context(), redis.Options{URL: u, Prefix: newPrefix()})
				if err == nil {
					s.Close()
				}
				cerr := redis.CheckURL(u, false)
				for what, err := range map[string]error{"Open": err, "CheckURL": cerr} {
					if code := errs.CodeOf(err); code != errs.Invalid || !strings.Contains(errs.Message(err), opt+" must be a positive duration") {
						t.Errorf("%s: got %v (code %s), want code %s saying %s must be a positive duration", what, err, code, errs.Invalid, opt)
					}
					if err != nil {
						assertNoPassword(t, what+" error", err.Error())
					}
				}
			})
		}
	}
	t.Run("negative option", func(t *testing.T) {
		_, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), ReadTimeout: -1})
		if code := errs.CodeOf(err); code != errs.Invalid {
			t.Errorf("Open with ReadTimeout -1: got %v (code %s), want code %s", err, code, errs.Invalid)
		}
	})
	t.Run("positive", func(t *testing.T) {
		u := srv.URL() + "?dial_timeout=1s&read_timeout=3&write_timeout=2s&pool_timeout=4s"
		if err := redis.CheckURL(u, false); err != nil {
			t.Errorf("CheckURL: got %v, want nil", err)
		}
		openStore(t, redis.Options{URL: u, Prefix: newPrefix()})
	})
}

// go-redis sends no AUTH for a user name without a password, so a URL
// holding one (most likely a password without its colon) ran the store
// unauthenticated, and messages showed the name. Open and CheckURL refuse
// it, without showing it.
func TestUserWithoutPassword(t *testing.T) {
	srv := redisserver.Start(t)
	const token = "tok3n-Secret99"
	for _, userinfo := range []string{token, token + ":"} {
		t.Run(userinfo, func(t *testing.T) {
			u := "redis://" + userinfo + "@" + srv.Addr() + "/0"
			s, err := redis.Open(t.Context(), redis.Options{URL: u, Prefix: newPrefix()})
			if err == nil {
				s.Close()
			}
			cerr := redis.CheckURL(u, false)
			for what, err := range map[string]error{"Open": err, "CheckURL": cerr} {
				if code := errs.CodeOf(err); code != errs.Invalid || !strings.Contains(errs.Message(err), "user name but no password") {
					t.Errorf("%s: got %v (code %s), want code %s saying there is a user name but no password", what, err, code, errs.Invalid)
				}
				if err != nil && strings.Contains(err.Error(), token) {
					t.Errorf("%s: %q shows the user name", what, err)
				}
			}
		})
	}
}
