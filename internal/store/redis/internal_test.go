package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

func TestClientOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		// want is checked field by field.
		addr, user, pass  string
		db                int
		tls               bool
		dial, read, write time.Duration
		serverName        string
		minVersion        uint16
		customCA          bool
		clientName        string
	}{
		{
			name: "plain", opt: Options{URL: "redis://10.0.0.5:6380"},
			addr: "10.0.0.5:6380", dial: DefaultDialTimeout, read: DefaultReadTimeout, write: DefaultReadTimeout,
		},
		{
			name: "password and db", opt: Options{URL: "redis://switchman:pa%3Ass@redis.internal/3"},
			addr: "redis.internal:6379", user: "switchman", pass: "pa:ss", db: 3,
			dial: DefaultDialTimeout, read: DefaultReadTimeout, write: DefaultReadTimeout,
		},
		{
			name: "tls", opt: Options{URL: "rediss://:pw@redis.example.com:6390/1"},
			addr: "redis.example.com:6390", pass: "pw", db: 1, tls: true, serverName: "redis.example.com", minVersion: tls.VersionTLS12,
			dial: DefaultDialTimeout, read: DefaultReadTimeout, write: DefaultReadTimeout,
		},
		{
			name: "tls config", opt: Options{URL: "rediss://redis.example.com", TLSConfig: &tls.Config{RootCAs: nil, ServerName: "other"}},
			addr: "redis.example.com:6379", tls: true, serverName: "other", minVersion: tls.VersionTLS12, customCA: true,
			dial: DefaultDialTimeout, read: DefaultReadTimeout, write: DefaultReadTimeout,
		},
		{
			name: "timeouts from options", opt: Options{URL: "redis://h?read_timeout=7s", DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 4 * time.Second},
			addr: "h:6379", dial: time.Second, read: 3 * time.Second, write: 4 * time.Second,
		},
		{
			name: "timeouts from url", opt: Options{URL: "redis://h?read_timeout=7s&dial_timeout=5s"},
			addr: "h:6379", dial: 5 * time.Second, read: 7 * time.Second, write: 7 * time.Second,
		},
		{
			// client_name is text, and may hold an @ unescaped.
			name: "client name with an @", opt: Options{URL: "redis://:p@ss@h/2?client_name=deploy@switchman"},
			addr: "h:6379", pass: "p@ss", db: 2, clientName: "deploy@switchman",
			dial: DefaultDialTimeout, read: DefaultReadTimeout, write: DefaultReadTimeout,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro, err := clientOptions(tc.opt)
			if err != nil {
				t.Fatalf("clientOptions: %v", err)
			}
			if ro.Addr != tc.addr || ro.Username != tc.user || ro.Password != tc.pass || ro.DB != tc.db {
				t.Errorf("got addr %q user %q password %q db %d, want %q %q %q %d", ro.Addr, ro.Username, ro.Password, ro.DB, tc.addr, tc.user, tc.pass, tc.db)
			}
			if (ro.TLSConfig != nil) != tc.tls {
				t.Fatalf("TLS: got %v, want %v", ro.TLSConfig != nil, tc.tls)
			}
			if tc.tls && (ro.TLSConfig.ServerName != tc.serverName || ro.TLSConfig.MinVersion != tc.minVersion) {
				t.Errorf("TLS: got server name %q min version %x, want %q %x", ro.TLSConfig.ServerName, ro.TLSConfig.MinVersion, tc.serverName, tc.minVersion)
			}
			if tc.customCA && ro.TLSConfig == tc.opt.TLSConfig {
				t.Error("TLS config: got the caller's config, want a copy")
			}
			if ro.DialTimeout != tc.dial || ro.ReadTimeout != tc.read || ro.WriteTimeout != tc.write {
				t.Errorf("timeouts: got %v/%v/%v, want %v/%v/%v", ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, tc.dial, tc.read, tc.write)
			}
			if ro.ClientName != tc.clientName {
				t.Errorf("client name: got %q, want %q", ro.ClientName, tc.clientName)
			}
			if !ro.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled: got false, want deadlines honoured")
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ url, secret, want string }{
		{"rediss://switchman:hunter2@redis.example.com:6390/1", "hunter2", "rediss://switchman:xxxxx@redis.example.com:6390/1"},
		// A user name alone is most likely a password written without
		// its colon.
		{"redis://hunter2token@redis.example.com:6390/1", "hunter2token", "redis://xxxxx@redis.example.com:6390/1"},
	} {
		got := Options{URL: tc.url}.String()
		if strings.Contains(got, tc.secret) || !strings.Contains(got, tc.want) {
			t.Errorf("Options.String: got %q, want %s, without %s", got, tc.want, tc.secret)
		}
	}
}

func TestTimeKeyOrder(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 14, 9, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
	}
	keys := make([]string, len(times))
	for i, tm := range times {
		keys[i] = timeKey(tm)
		if len(keys[i]) != timeKeyLen {
			t.Errorf("timeKey(%v): got %d bytes, want %d", tm, len(keys[i]), timeKeyLen)
		}
	}
	if !sort.StringsAreSorted(keys) {
		t.Errorf("time keys of increasing times: got %q, want sorted", keys)
	}
}

// TestAcquireSameNonce sends one Acquire call twice, as the client does
// when the first reply is lost: the second finds the lease the first took.
// A new call by the same holder is refused.
func TestAcquireSameNonce(t *testing.T) {
	s := openPrefix(t, redisserver.Start(t), "")
	ctx := t.Context()
	n := nonce()
	first, err := s.acquire(ctx, "k", "bot-1", time.Minute, n)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	again, err := s.acquire(ctx, "k", "bot-1", time.Minute, n)
	if err != nil {
		t.Fatalf("acquire with the same nonce: got %v, want the lease", err)
	}
	if again.Token() != first.Token() {
		t.Errorf("token of the resent call: got %d, want %d", again.Token(), first.Token())
	}
	_, err = s.acquire(ctx, "k", "bot-1", time.Minute, nonce())
	var he *deploy.LeaseHeldError
	if !errors.As(err, &he) || he.Holder != "bot-1" {
		t.Errorf("acquire with a new nonce: got %v, want held by bot-1", err)
	}
}

// TestForgottenMarkExpires: ForgetOnce's mark expires, within
// forgottenTTL, whether the key was absent, another's or the caller's.
func TestForgottenMarkExpires(t *testing.T) {
	s := openPrefix(t, redisserver.Start(t), "")
	ctx := t.Context()
	for _, tc := range []struct{ name, setBy string }{
		{"absent", ""},
		{"another's", "b"},
		{"own", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "sentry-webhook:" + tc.name
			if tc.setBy != "" {
				if _, err := s.SetOnceToken(ctx, key, tc.setBy, 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.ForgetOnce(ctx, key, "a"); err != nil {
				t.Fatal(err)
			}
			ttl, err := s.client().PTTL(ctx, s.forgottenKey(key, "a")).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl <= 0 || ttl > forgottenTTL {
				t.Errorf("expiry of the mark: got %v, want in (0, %v]", ttl, forgottenTTL)
			}
		})
	}
}

// TestTakeSignalSameNonce sends one TakeSignal call twice, as the client
// does when the first reply is lost: the second returns the signal the
// first took. A new call finds nothing.
func TestTakeSignalSameNonce(t *testing.T) {
	s := openPrefix(t, redisserver.Start(t), "")
	ctx := t.Context()
	if err := s.Signal(ctx, "d1", "cancel", "ana", time.Minute); err != nil {
		t.Fatal(err)
	}
	n := nonce()
	for _, call := range []string{"takeSignal", "takeSignal with the same nonce"} {
		if by, ok, err := s.takeSignal(ctx, "d1", "cancel", n); by != "ana" || !ok || err != nil {
			t.Errorf("%s: got %q, %v, %v; want \"ana\", true", call, by, ok, err)
		}
	}
	if by, ok, err := s.takeSignal(ctx, "d1", "cancel", nonce()); ok || err != nil {
		t.Errorf("takeSignal with a new nonce: got %q, %v, %v; want nothing", by, ok, err)
	}
}

// TestPaging lists more records and audit entries than one script call
// examines, with filters that leave some pages without a match.
func TestPaging(t *testing.T) {
	s := openPrefix(t, redisserver.Start(t), "")
	ctx := t.Context()
	n := 2*pageSize + 10
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	app := func(i int) string {
		// "rare" only among the oldest entries, so a filtered listing
		// walks pages without a match first.
		if i < 20 && i%4 == 0 {
			return "rare"
		}
		return "common"
	}
	for i := range n {
		// Two records per instant: ties go by ID, descending.
		r := &deploy.Record{ID: fmt.Sprintf("d%04d", i), App: app(i), Env: "production",
			Started: start.Add(time.Duration(i/2) * time.Second), Outcome: deploy.OutcomeSucceeded}
		if err := s.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		e := &audit.Entry{Time: start.Add(time.Duration(i/2) * time.Second), Command: fmt.Sprintf("c%04d", i), App: app(i), Decision: audit.Event}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		f    deploy.Filter
		q    audit.Query
		want []int
	}{
		{name: "all", want: seq(n-1, 0, 1)},
		{name: "limit over a page", f: deploy.Filter{Limit: pageSize + 3}, q: audit.Query{Limit: pageSize + 3}, want: seq(n-1, n-pageSize-3, 1)},
		{name: "filter", f: deploy.Filter{App: "rare"}, q: audit.Query{App: "rare"}, want: []int{16, 12, 8, 4, 0}},
		{name: "filter limit", f: deploy.Filter{App: "rare", Limit: 2}, q: audit.Query{App: "rare", Limit: 2}, want: []int{16, 12}},
		{name: "since", q: audit.Query{Since: start.Add(time.Duration(n/2-pageSize) * time.Second), Limit: 0}, f: deploy.Filter{Limit: 2 * pageSize}, want: seq(n-1, n-2*pageSize, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := s.Records(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.ID)
			}
			if want := names("d", tc.want); !slices.Equal(got, want) {
				t.Errorf("Records(%+v): got %d %v, want %d %v", tc.f, len(got), head(got), len(want), head(want))
			}
			entries, err := s.Audit(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			got = nil
			for _, e := range entries {
				got = append(got, e.Command)
			}
			if want := names("c", tc.want); !slices.Equal(got, want) {
				t.Errorf("Audit(%+v): got %d %v, want %d %v", tc.q, len(got), head(got), len(want), head(want))
			}
		})
	}
}

// TestTrimRecordWrittenBetweenPages rewrites a record between the first
// and the second page TrimRecords reads, so that its new index entry is
// met again in the second page. It counts once: no more records are
// deleted than keep allows.
func TestTrimRecordWrittenBetweenPages(t *testing.T) {
	srv := redisserver.Start(t)
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	const older = 5 // records below the first page
	n := pageSize + older
	keep := pageSize + 2
	rec := func(i int) *deploy.Record {
		return &deploy.Record{ID: fmt.Sprintf("d%04d", i), App: "accounting", Env: "production",
			Started: start.Add(time.Duration(i) * time.Second), Outcome: deploy.OutcomeSucceeded}
	}
	for _, tc := range []struct {
		name string
		// at is the record rewritten, rec(at): from the oldest, so n-1 is
		// the first entry of the first page and older its last. It is
		// running until rewritten if running is set.
		at      int
		running bool
		rewrite func(*deploy.Record)
	}{
		{name: "finished", at: older, running: true, rewrite: func(r *deploy.Record) { r.Outcome = deploy.OutcomeFailed }},
		{name: "started earlier", at: n - 1, rewrite: func(r *deploy.Record) { r.Started = start.Add(-time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), Options{URL: srv.URL(), Prefix: fmt.Sprintf("trim-%d:", tc.at)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ctx := t.Context()
			for i := range n {
				r := rec(i)
				if i == tc.at && tc.running {
					r.Outcome = deploy.OutcomeRunning
				}
				if err := s.PutRecord(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			id := rec(tc.at).ID
			var pagesWith []int // the pages read holding an entry of id
			reads := 0
			read := func(upper string) ([]string, error) {
				page, err := s.indexPage(ctx, upper)
				reads++
				for _, m := range page {
					if strings.HasPrefix(m[timeKeyLen:], id+"\x00") {
						pagesWith = append(pagesWith, reads)
					}
				}
				if reads == 1 {
					r := rec(tc.at)
					tc.rewrite(r)
					if err := s.PutRecord(ctx, r); err != nil {
						t.Fatal(err)
					}
				}
				return page, err
			}
			drop, err := trimmable(timeKey(start.Add(time.Duration(n)*time.Second)), keep, read, func(id string) (*deploy.Record, error) {
				return s.Record(ctx, id)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pagesWith, []int{1, 2}) {
				t.Fatalf("pages holding %s: got %v, want [1 2] (the test did not exercise a record met twice)", id, pagesWith)
			}
			got, err := s.dropRecords(ctx, drop)
			if err != nil {
				t.Fatal(err)
			}
			if want := n - keep; got != want {
				t.Errorf("records deleted: got %d, want %d (keep %d of %d)", got, want, keep, n)
			}
			if recs, err := s.Records(ctx, deploy.Filter{}); err != nil || len(recs) != keep {
				t.Errorf("records left: got %d, %v, want %d", len(recs), err, keep)
			}
		})
	}
}

// seq returns from, from-step, … down to to.
func seq(from, to, step int) []int {
	var out []int
	for i := from; i >= to; i -= step {
		out = append(out, i)
	}
	return out
}

func names(prefix string, nums []int) []string {
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = fmt.Sprintf("%s%04d", prefix, n)
	}
	return out
}

func head(s []string) []string {
	if len(s) > 6 {
		return append(s[:3:3], append([]string{"…"}, s[len(s)-3:]...)...)
	}
	return s
}

// TestOpenRefusesEviction: a Redis that evicts keys when full (a memory
// limit and a policy other than noeviction) is refused: an evicted lease
// would let two replicas deploy one app+env. A limit with noeviction is
// fine.
func TestOpenRefusesEviction(t *testing.T) {
	for _, tt := range []struct {
		policy string
		ok     bool
	}{
		{"volatile-lru", false},
		{"allkeys-lru", false},
		{"noeviction", true},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			srv := redisserver.StartWith(t, redisserver.Options{Args: []string{"--maxmemory", "64mb", "--maxmemory-policy", tt.policy}})
			s, err := Open(t.Context(), Options{URL: srv.URL()})
			if err == nil {
				s.Close()
			}
			if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "set maxmemory-policy noeviction")) {
				t.Errorf("Open: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestScriptsLoaded: Open loads every script the store runs, and records
// their hashes, so that calls send EVALSHA alone, never EVALSHA "" and
// then the script's text (Script.Load in a pipeline recorded "").
func TestScriptsLoaded(t *testing.T) {
	s := openPrefix(t, redisserver.Start(t), "")
	ctx := t.Context()
	if err := s.client().ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// One call of each script, through the store's methods.
	rec := &deploy.Record{ID: "d1", App: "web", Env: "prod", Outcome: deploy.OutcomeRunning, Started: time.Now()}
	calls := []func() error{
		func() error { return s.PutRecord(ctx, rec) },
		func() error { _, err := s.Records(ctx, deploy.Filter{}); return err },
		func() error { _, err := s.Records(ctx, deploy.Filter{Outcome: deploy.OutcomeRunning}); return err },
		func() error { _, err := s.SetOnce(ctx, "k", time.Minute); return err },
		func() error { return s.ForgetOnce(ctx, "k", "tok-1") },
		func() error { _, _, err := s.SignalFirst(ctx, "d1", "confirm", "ok ana", time.Minute); return err },
		func() error { _, _, err := s.TakeSignal(ctx, "d1", "confirm"); return err },
		func() error { _, err := s.TrimRecords(ctx, time.Now().Add(-time.Hour), 10); return err },
		func() error { _, err := s.TrimAudit(ctx, time.Now().Add(-time.Hour)); return err },
		func() error {
			return s.AppendAudit(ctx, &audit.Entry{Time: time.Now(), User: "ana", Command: "status"})
		},
		func() error { _, err := s.Audit(ctx, audit.Query{Limit: 5}); return err },
		func() error { return s.CheckIn(ctx, "ana", time.Now().Add(time.Hour)) },
		func() error { return s.CheckOut(ctx, "ana") },
		func() error {
			_, _, err := s.CheckInIf(ctx, "ana", time.Time{}, time.Now().Add(time.Hour))
			return err
		},
		func() error { return s.Signal(ctx, "d1", "cancel", "ana", time.Minute) },
		func() error {
			_, _, err := s.ReplaceLock(ctx, nil, deploy.Lock{App: "web", Owner: "ana", Created: time.Now()})
			return err
		},
		func() error {
			return s.PutWatch(ctx, watchstore.Watch{ID: "d1", App: "web", Env: "prod", Fence: time.Now().UnixMilli()})
		},
		func() error { return s.Writable(ctx) },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	l, err := s.Acquire(ctx, "deploy:web/prod", "bot-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l.Renew(ctx)
	l.Release(ctx)
	info, err := s.client().Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if strings.HasPrefix(line, "cmdstat_eval:") || (strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.Contains(line, "failed_calls=0")) {
			t.Errorf("a script went by its text, or by an unknown hash: %s", strings.TrimSpace(line))
		}
	}
}
