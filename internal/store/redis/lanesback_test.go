package redis_test

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestLanesRecoverTogether: once Redis is back and one call of the store
// has reached it, every next call does, whichever of the store's
// connections (lanes) it takes. Each lane is a go-redis client, which
// after as many failed dials as its pool size stops dialling and answers
// its last dial error until a dial it tries each second succeeds: after
// an outage long enough for that, each lane came back on its own second,
// and for up to that second after Redis was back one command was refused
// "state store unreachable" while the one before it worked.
func TestLanesRecoverTogether(t *testing.T) {
	// Its data outlives the restart, as a Redis that persists it does.
	srv := redisserver.StartWith(t, redisserver.Options{AppendOnly: true})
	s := openStore(t, redis.Options{URL: srv.URL() + "?pool_size=3", Prefix: newPrefix(), ReadTimeout: 500 * time.Millisecond, MaxClockSkew: -1})
	ctx := t.Context()
	locks := func() error { _, err := s.Locks(ctx); return err }
	if err := locks(); err != nil {
		t.Fatalf("Locks: %v", err)
	}

	srv.Kill()
	// Enough calls for every lane to fail as many dials as its pool
	// size, and stop dialling.
	for range 12 {
		assertUnavailable(t, "Locks while Redis is down", locks())
	}

	srv.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for err := locks(); err != nil; err = locks() {
		if time.Now().After(deadline) {
			t.Fatalf("Locks after the restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// One call reached Redis: the next ones take the other lanes.
	for i := range 6 {
		if err := locks(); err != nil {
			t.Errorf("call %d after the first that reached Redis back: got %v, want none", i+1, err)
		}
	}
	lock := deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "db maintenance", Created: time.Now()}
	if err := s.PutLock(ctx, lock); err != nil {
		t.Errorf("PutLock after Redis is back: %v", err)
	}
}
