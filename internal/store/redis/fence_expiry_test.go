package redis_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/store/storetest"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestRunFencesExpire: the fence of a lease taken once per run (its error
// watch, its recovery) expires, FenceRetention after the lease's last
// Redis expiry, so that a long-lived installation does not keep one key per
// deploy forever; the fence of an app+env lease, one per app+env, stays.
func TestRunFencesExpire(t *testing.T) {
	srv := redisserver.Start(t)
	prefix := newPrefix()
	clock := storetest.NewClock(time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC))
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix, MaxClockSkew: -1, Now: clock.Now})
	rdb := directClient(t, srv)
	const ttl = time.Minute
	for _, tc := range []struct {
		key     string
		expires bool
	}{
		{watchstore.LeaseKey("d1"), true},
		{deploy.RecoverLeaseKey("d1"), true},
		{deploy.LeaseKey("web", "prod"), false},
	} {
		l, err := s.Acquire(t.Context(), tc.key, "bot-1", ttl)
		if err != nil {
			t.Fatal(err)
		}
		fence := prefix + "fence:" + tc.key
		for _, step := range []string{"acquired", "renewed"} {
			if step == "renewed" {
				if tc.expires {
					// Renew sets the fence's expiry again, from now.
					if err := rdb.PExpire(t.Context(), fence, time.Second).Err(); err != nil {
						t.Fatal(err)
					}
				}
				if err := l.Renew(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			left, err := rdb.PTTL(t.Context(), fence).Result()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case !tc.expires && left >= 0:
				t.Errorf("%s, %s: fence expires in %v, want never", tc.key, step, left)
			case tc.expires && (left < redis.FenceRetention+ttl || left > redis.FenceRetention+3*ttl+time.Minute):
				t.Errorf("%s, %s: fence expires in %v, want the lease's Redis expiry plus %v", tc.key, step, left, redis.FenceRetention)
			}
		}
		if err := l.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExpiredWatchFenceRefusesStaleWrite: once the fence of a watch's
// lease has expired, a write under a token of that lease is refused: the
// lease ended FenceRetention ago at least, so the writer lost it long
// since, and the watch it writes may have been deleted. The next holder's
// token is newer than any before, and its writes go through.
func TestExpiredWatchFenceRefusesStaleWrite(t *testing.T) {
	srv := redisserver.Start(t)
	prefix := newPrefix()
	clock := storetest.NewClock(time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC))
	s := openStore(t, redis.Options{URL: srv.URL(), Prefix: prefix, MaxClockSkew: -1, Now: clock.Now})
	rdb := directClient(t, srv)
	key := watchstore.LeaseKey("d1")
	old, err := s.Acquire(t.Context(), key, "bot-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	w := watchstore.Watch{ID: "d1", App: "web", Env: "prod", Fence: old.Token(), State: []byte(`{}`)}
	if err := s.PutWatch(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWatch(t.Context(), "d1", old.Token()); err != nil {
		t.Fatal(err)
	}
	// Redis expires the fence once FenceRetention has passed.
	clock.Advance(redis.FenceRetention + 3*time.Minute)
	if err := rdb.Del(t.Context(), prefix+"fence:"+key).Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		write func() error
	}{
		{"put", func() error { return s.PutWatch(t.Context(), w) }},
		{"delete", func() error { return s.DeleteWatch(t.Context(), "d1", old.Token()) }},
	} {
		err := tc.write()
		if !errors.Is(err, deploy.ErrLeaseLost) || errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "lease has been over for more than") {
			t.Errorf("%s under token %d once its fence expired: got %v (message %q), want an error wrapping deploy.ErrLeaseLost, code conflict, saying the lease is long over", tc.name, old.Token(), err, errs.Message(err))
		}
	}
	if _, err := s.Watch(t.Context(), "d1"); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Watch: got %v, want none: the stale write was refused", err)
	}
	next, err := s.Acquire(t.Context(), key, "bot-2", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if next.Token() <= old.Token() {
		t.Errorf("token once the fence expired: got %d, want more than %d", next.Token(), old.Token())
	}
	w.Fence = next.Token()
	if err := s.PutWatch(t.Context(), w); err != nil {
		t.Errorf("PutWatch under the new holder's token: %v", err)
	}
}
