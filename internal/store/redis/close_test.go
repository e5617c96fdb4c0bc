package redis_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestCloseWhileCalling closes stores while goroutines keep calling them
// with contexts that can be cancelled, so that each call is one Close
// waits for (see await). A call counted as Close begins to wait races
// that wait (the race detector says so, or sync.WaitGroup panics), and
// one counted after the wait ended outlives Close. Every call must end,
// and one made after Close must say the store is closed.
func TestCloseWhileCalling(t *testing.T) {
	srv := redisserver.Start(t)
	for range 500 {
		s, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Prefix: newPrefix(), MaxClockSkew: -1})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				<-start
				for s.Ping(ctx) == nil {
				}
			})
		}
		close(start)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
		cancel()
		if err := s.Ping(t.Context()); !errors.Is(err, deploy.ErrStoreClosed) {
			t.Fatalf("Ping after Close: got %v, want deploy.ErrStoreClosed", err)
		}
	}
}
