package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

// untoldCount is how many failed TakeSignal calls s remembers.
func untoldCount(s *Store) int {
	n := 0
	s.untold.Range(func(any, any) bool { n++; return true })
	return n
}

// TestUntoldNoncesExpire: a run whose last TakeSignal failed (Redis down
// as it ended) is never asked about again, and the nonce kept for it is
// useless once its reply key has expired in Redis: the store forgets it
// then, rather than keeping one per such run for as long as the bot runs.
// A nonce younger than that is still reused.
func TestUntoldNoncesExpire(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{AppendOnly: true})
	clock := testclock.New(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
	s, err := Open(t.Context(), Options{URL: srv.URL(), MaxClockSkew: -1, Now: clock.Now, DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	take := func(id string) error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, _, err := s.TakeSignal(ctx, id, "cancel")
		return err
	}

	srv.Stop()
	for i := range 3 {
		if err := take(fmt.Sprintf("ended-%d", i)); err == nil {
			t.Fatal("TakeSignal with Redis stopped: got no error")
		}
	}
	if n := untoldCount(s); n != 3 {
		t.Fatalf("nonces kept after 3 failed calls: got %d, want 3", n)
	}
	clock.Advance(replyTTL / 2)
	if err := take("running"); err == nil {
		t.Fatal("TakeSignal with Redis stopped: got no error")
	}
	if n := untoldCount(s); n != 4 {
		t.Errorf("nonces kept within replyTTL: got %d, want 4", n)
	}
	clock.Advance(replyTTL/2 + time.Second)
	if err := take("running"); err == nil {
		t.Fatal("TakeSignal with Redis stopped: got no error")
	}
	if n := untoldCount(s); n != 1 {
		t.Errorf("nonces kept once replyTTL passed: got %d, want 1 (the call just failed)", n)
	}
	srv.Restart(t)
	// The client dials again once its pool tries, within a second or so.
	deadline := time.Now().Add(10 * time.Second)
	for err := take("running"); err != nil; err = take("running") {
		if time.Now().After(deadline) {
			t.Fatalf("TakeSignal once Redis is back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := untoldCount(s); n != 0 {
		t.Errorf("nonces kept after the call succeeded: got %d, want 0", n)
	}
}
