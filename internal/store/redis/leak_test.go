package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/leakcheck"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestRestartsLeaveNothing restarts and kills Redis under a store again
// and again, using it in between, and checks that once the store is
// closed no goroutine or connection of it is left. Not parallel: other
// tests' goroutines would count.
func TestRestartsLeaveNothing(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{AppendOnly: true})
	snap := leakcheck.Take(t)
	s, err := Open(t.Context(), Options{URL: srv.URL(), DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	use := func(i int) error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if err := s.PutRecord(ctx, &deploy.Record{ID: fmt.Sprintf("d%03d", i), App: "web", Env: "prod", Started: time.Now()}); err != nil {
			return err
		}
		l, err := s.Acquire(ctx, "web/prod", "run", time.Minute)
		if err != nil {
			return err
		}
		if _, _, err := s.TakeSignal(ctx, "d1", "cancel"); err != nil {
			return err
		}
		return l.Release(ctx)
	}
	for i := range 6 {
		if i%2 == 0 {
			srv.Restart(t)
		} else {
			srv.Kill()
			if err := use(i); err == nil {
				t.Fatal("store calls with Redis killed: got no error")
			}
			srv.Restart(t)
		}
		// The client dials again once its pool tries, within a second.
		deadline := time.Now().Add(10 * time.Second)
		for err := use(i); err != nil; err = use(i) {
			if errors.Is(err, ErrStoreReset) || time.Now().After(deadline) {
				t.Fatalf("store calls once Redis is back: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Stop() // its process, restarted since the snapshot, has goroutines of its own
	snap.Check(t)
}
