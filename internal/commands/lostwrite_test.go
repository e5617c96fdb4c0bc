package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// pausedWrites is a Redis state store paused while it runs the writes of
// a command: each reaches Redis, its replies are lost once the client's
// read timeouts run out, and Redis runs it as it is resumed, as one whose
// connection dropped after Redis took it.
type pausedWrites struct {
	raceStore
	srv *redisserver.Server
}

func (s *pausedWrites) pause() (resume func()) {
	s.srv.Pause()
	return s.srv.Resume
}

func (s *pausedWrites) ReplaceLock(ctx context.Context, prev *deploy.Lock, next deploy.Lock) (*deploy.Lock, bool, error) {
	defer s.pause()()
	return s.raceStore.ReplaceLock(ctx, prev, next)
}

// TestWriteReplyLost: a command whose write Redis took, but whose reply
// was lost, is not reported as having changed nothing, in its reply or
// its audit entry: what it wrote is there. It says that whether it took
// effect is not known, and where to look.
func TestWriteReplyLost(t *testing.T) {
	for _, tc := range []struct {
		name, user, text string
		want             string
		// written reports whether the command's write is in st.
		written func(ctx context.Context, st *redis.Store) bool
	}{
		{
			name: "lock", user: "bob", text: "lock deploys web prod db maintenance",
			want: "whether your lock on web/prod was set is not known (state store unreachable): status lists the locks in force",
			written: func(ctx context.Context, st *redis.Store) bool {
				locks, err := st.Locks(ctx)
				return err == nil && len(locks) == 1 && locks[0].Owner == "bob"
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixture(t)
			_, st, _ := f.useRedisWith(redis.Options{ReadTimeout: 200 * time.Millisecond}, func(srv *redisserver.Server, st raceStore) raceStore {
				return &pausedWrites{raceStore: st, srv: srv}
			})
			res, out, _ := f.do(tc.user, tc.text)
			if got := out.last(); !res.Failed || !strings.Contains(got, tc.want) || strings.Contains(got, "nothing was changed") {
				t.Errorf("%s: got failed %v, %q; want a refusal with %q, not saying nothing was changed", tc.text, res.Failed, got, tc.want)
			}
			entries, err := st.Audit(t.Context(), audit.Query{Limit: 1})
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit: got %+v, %v; want the command's entry", entries, err)
			}
			if e := entries[0]; e.Decision != audit.Refused || e.Reason != tc.want {
				t.Errorf("audit entry: got %s, %q; want %s, %q", e.Decision, e.Reason, audit.Refused, tc.want)
			}
			for deadline := time.Now().Add(10 * time.Second); !tc.written(t.Context(), st); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: its write is not in the store; want it there (Redis ran the write whose reply was lost)", tc.text)
				}
			}
		})
	}
}
