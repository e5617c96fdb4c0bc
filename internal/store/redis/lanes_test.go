package redis_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestGivenUpCallsFreeTheirConnections gives up on more calls than the
// store has connections (?pool_size=2, and the 10 go-redis keeps for
// pipelines and MULTIs), each while Redis keeps its reply back on a
// connection it leaves open (a Redis stalled on the connections the calls
// went out on), and then makes lock and lease calls, which Redis answers
// on new connections: each must succeed. The calls given up on used to
// hold their connections until the read timeout, an hour here, and every
// later call waited pool_timeout for a connection and failed as if Redis
// were unreachable.
func TestGivenUpCallsFreeTheirConnections(t *testing.T) {
	srv := redisserver.Start(t)
	for _, tc := range []struct {
		name string
		// stall is the call given up on; key is in its request, so the
		// proxy holds back its reply.
		stall func(ctx context.Context, s *redis.Store, key string) error
	}{
		{"Holder", func(ctx context.Context, s *redis.Store, key string) error {
			_, err := s.Holder(ctx, key)
			return err
		}},
		{"Acquire", func(ctx context.Context, s *redis.Store, key string) error {
			_, err := s.Acquire(ctx, key, "bot-1", time.Minute)
			return err
		}},
		{"TakeSignal", func(ctx context.Context, s *redis.Store, key string) error {
			_, _, err := s.TakeSignal(ctx, key, "cancel")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := newFaultProxy(t, srv.Addr())
			s := openStore(t, redis.Options{
				URL:    proxy.URL() + "?pool_size=2&pool_timeout=10s",
				Prefix: newPrefix(), ReadTimeout: time.Hour, MaxClockSkew: -1,
			})
			const stalls = 12
			for i := range stalls {
				key := fmt.Sprintf("stalled-%02d", i)
				ctx, cancel := context.WithCancel(t.Context())
				proxy.hangNextReply(key, cancel)
				if err := tc.stall(ctx, s, key); !errors.Is(err, context.Canceled) {
					t.Fatalf("%s %d with its reply held back: got %v, want context.Canceled", tc.name, i, err)
				}
				cancel()
			}
			if got := proxy.Faults(); got != stalls {
				t.Fatalf("replies held back: got %d, want %d (the test did not stall the calls)", got, stalls)
			}

			ctx := t.Context()
			lock := deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "db maintenance", Created: time.Now()}
			if err := s.PutLock(ctx, lock); err != nil {
				t.Fatalf("PutLock after the calls given up on: %v", err)
			}
			if locks, err := s.Locks(ctx); err != nil || len(locks) != 1 || locks[0].Owner != "ana" {
				t.Fatalf("Locks after the calls given up on: got %+v, %v, want ana's lock", locks, err)
			}
			l, err := s.Acquire(ctx, "deploy/web/prod", "bot-2", time.Minute)
			if err != nil {
				t.Fatalf("Acquire after the calls given up on: %v", err)
			}
			if err := l.Renew(ctx); err != nil {
				t.Fatalf("Renew after the calls given up on: %v", err)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatalf("Release after the calls given up on: %v", err)
			}
		})
	}
}
