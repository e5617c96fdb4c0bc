package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// pausedSignals leaves signals in a Redis that is paused while it reads
// them: the write reaches Redis, its replies are lost once the client's
// read timeouts run out, and Redis runs it as it is resumed.
type pausedSignals struct {
	*redis.Store
	srv *redisserver.Server
}

func (s *pausedSignals) Signal(ctx context.Context, id, kind, value string, ttl time.Duration) error {
	s.srv.Pause()
	defer s.srv.Resume()
	return s.Store.Signal(ctx, id, kind, value, ttl)
}

func (s *pausedSignals) SignalFirst(ctx context.Context, id, kind, value string, ttl time.Duration) (string, bool, error) {
	s.srv.Pause()
	defer s.srv.Resume()
	return s.Store.SignalFirst(ctx, id, kind, value, ttl)
}

// TestSignalReplyLost: a cancel or an answer to a migrations prompt
// passed on to another replica, whose write Redis took but whose reply
// was lost, is not reported as having changed nothing: the signal is
// there, and the run takes it. It says that it is not known, and how to
// find out: the commands it offers for that are marked, whole, with the
// app and env of the deploy (the cancel's were not marked).
func TestSignalReplyLost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   string
		signal func(e *deploy.Engine) error
		want   string
		// offers are the commands the reply offers, as parsed.
		offers []commands.Command
	}{
		{"cancel", "cancel", func(e *deploy.Engine) error {
			_, err := e.SignalCancel(t.Context(), "web", "prod", "ana")
			return err
		}, "whether the cancel of deploy 7 of web/prod was passed on to the replica running it is not known (state store unreachable): cancel web prod again, which does no harm; status web shows whether it still runs",
			[]commands.Command{{Verb: commands.VerbCancel, App: "web", Env: "prod"}, {Verb: commands.VerbStatus, App: "web"}}},
		{"confirm", "confirm", func(e *deploy.Engine) error {
			return e.SignalConfirm(t.Context(), "7", "ana", true)
		}, "whether your answer to the prompt of deploy 7 was passed on to the replica running it is not known (state store unreachable): answer again", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			rs, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), ReadTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rs.Close() })
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				o.Leases = rs
				o.Signals = &pausedSignals{Store: rs, srv: srv}
			})
			// Another replica's deploy of web/prod holds the lease, and
			// waits for its migrations to be confirmed.
			if _, err := rs.Acquire(t.Context(), deploy.LeaseKey("web", "prod"), "7 deploy", time.Minute); err != nil {
				t.Fatal(err)
			}
			if tc.kind == "confirm" {
				rec := &deploy.Record{ID: "7", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "1", Requester: "bob",
					Started: time.Now(), Outcome: deploy.OutcomeRunning, Awaiting: time.Now().Add(time.Minute)}
				if err := f.store.PutRecord(t.Context(), rec); err != nil {
					t.Fatal(err)
				}
			}

			err = tc.signal(f.engine)
			msg := errs.Message(err)
			if said := suggest.Strip(msg); !strings.HasPrefix(said, tc.want) || strings.Contains(said, "nothing was changed") || errs.CodeOf(err) != errs.Unavailable {
				t.Errorf("got %v (message %q, code %s); want code %s and a message starting %q, not saying nothing was changed",
					err, said, errs.CodeOf(err), errs.Unavailable, tc.want)
			}
			got := offered(t, f.cfg, msg)
			if len(got) != len(tc.offers) {
				t.Errorf("offers %+v, want %+v: %q", got, tc.offers, msg)
			}
			for i := range min(len(got), len(tc.offers)) {
				if g, w := got[i], tc.offers[i]; g.Verb != w.Verb || g.App != w.App || g.Env != w.Env {
					t.Errorf("offer %d: got %+v, want %s of %s %s", i, g, w.Verb, w.App, w.Env)
				}
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				_, ok, err := rs.TakeSignal(t.Context(), "7", tc.kind)
				if err == nil && ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the %s signal: %v, %v; want it left (Redis ran the write whose reply was lost)", tc.kind, ok, err)
				}
			}
		})
	}
}
