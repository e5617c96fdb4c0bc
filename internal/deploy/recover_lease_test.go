package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// heldTransport holds every script its sessions run while hold is set,
// until the script's context ends, and keeps why it ended: a host that
// stopped answering mid-read.
type heldTransport struct {
	deploy.Transport
	mu      sync.Mutex
	hold    bool
	holding chan struct{} // closed by the first script held
	cause   error
}

func (t *heldTransport) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := t.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return heldSession{Session: s, t: t}, nil
}

func (t *heldTransport) setHold(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hold = on
}

func (t *heldTransport) heldUntil() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cause
}

type heldSession struct {
	deploy.Session
	t *heldTransport
}

func (s heldSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	s.t.mu.Lock()
	hold := s.t.hold
	if hold && s.t.cause == nil {
		select {
		case <-s.t.holding:
		default:
			close(s.t.holding)
		}
	}
	s.t.mu.Unlock()
	if !hold {
		return s.Session.Run(ctx, cmd)
	}
	<-ctx.Done()
	s.t.mu.Lock()
	if s.t.cause == nil {
		s.t.cause = context.Cause(ctx)
	}
	s.t.mu.Unlock()
	return nil, ctx.Err()
}

// TestRecoveryStopsWhenItsLeaseIsLost: a recovery renews its lease while it
// reads the hosts of the run it marks interrupted. A renewal that found
// the lease lost (it expired while this replica paused, and another
// replica may be recovering the run) or the store reset was only logged:
// the recovery read on and then wrote its account of the run, and
// reported it, over or beside the other replica's. It now stops at that
// renewal, cutting short the read, and writes nothing; the run stays
// running for whoever holds the lease next, which records it once.
func TestRecoveryStopsWhenItsLeaseIsLost(t *testing.T) {
	for _, tt := range []struct {
		name  string
		lose  func(t *testing.T, c *goredis.Client)
		reset bool
	}{
		{"lease expired", func(t *testing.T, c *goredis.Client) {
			if err := c.Del(t.Context(), redis.DefaultPrefix+"lease:"+deploy.LeaseKey("web", "prod")).Err(); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"store reset", func(t *testing.T, c *goredis.Client) {
			if err := c.FlushAll(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			st := redisStore(t, srv)
			c := redisClient(t, srv)
			tr := &heldTransport{Transport: &local.Transport{}, holding: make(chan struct{})}
			var log syncbuf.Buffer
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				o.Transports["local"] = tr
				o.Store, o.Leases, o.Locks = st, st, st
				o.LeaseTTL = 3 * time.Second
				o.Log = slog.New(slog.NewTextHandler(&log, nil))
			})
			ctx := context.Background()
			l, err := st.Acquire(ctx, deploy.LeaseKey("web", "prod"), "gone:1", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
			dead := &deploy.Record{ID: "20260101-000000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
				Requester: "ana", Started: time.Now().Add(-time.Minute), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: l.Token(),
				Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostDelivering}}}
			if err := st.PutRecord(ctx, dead); err != nil {
				t.Fatal(err)
			}

			tr.setHold(true)
			type result struct {
				recs []*deploy.Record
				err  error
			}
			done := make(chan result, 1)
			go func() {
				recs, err := f.engine.Recover(ctx)
				done <- result{recs, err}
			}()
			select {
			case <-tr.holding:
			case <-time.After(30 * time.Second):
				t.Fatal("the recovery did not read the host within 30 s")
			}
			tt.lose(t, c)
			var res result
			select {
			case res = <-done:
			case <-time.After(time.Minute):
				t.Fatal("the recovery did not end within a minute")
			}
			tr.setHold(false)

			// The read of the host ended because the lease was lost, not
			// because the recovery's bound on it ran out.
			if cause := tr.heldUntil(); !errors.Is(cause, deploy.ErrLeaseLost) || tt.reset != errors.Is(cause, deploy.ErrStoreReset) {
				t.Errorf("the read of the host ended for %v; want the lease lost (store reset: %v)", cause, tt.reset)
			}
			if len(res.recs) != 0 {
				t.Errorf("recover reported %d runs, want none: it lost its lease", len(res.recs))
			}
			if tt.reset {
				if !errors.Is(res.err, deploy.ErrStoreReset) {
					t.Errorf("recover: got %v, want the store reset", res.err)
				}
				return
			}
			if res.err != nil {
				t.Errorf("recover: got %v, want nil: another replica may report the run", res.err)
			}
			if !strings.Contains(log.String(), "recovery stopped, nothing recorded: its lease was lost") {
				t.Errorf("log %q does not say the recovery stopped for its lost lease", log.String())
			}
			rec, err := st.Record(ctx, dead.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Outcome != deploy.OutcomeRunning || rec.Fence != dead.Fence {
				t.Errorf("record: got %s under fence %d, want it as it was (running, fence %d): written without the lease", rec.Outcome, rec.Fence, dead.Fence)
			}
			// Whoever holds the lease next records it, once.
			got, err := f.engine.Recover(ctx)
			if err != nil || len(got) != 1 || got[0].Outcome != deploy.OutcomeInterrupted {
				t.Fatalf("recover again: got %d runs, %v; want the dead run, interrupted", len(got), err)
			}
			if got, err := f.engine.Recover(ctx); err != nil || len(got) != 0 {
				t.Errorf("recover a third time: got %d runs, %v; want none", len(got), err)
			}
		})
	}
}
