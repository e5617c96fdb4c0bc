package commands_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/suggest"
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

func (s *pausedWrites) PutGrant(ctx context.Context, g acl.Grant) error {
	defer s.pause()()
	return s.raceStore.PutGrant(ctx, g)
}

func (s *pausedWrites) DeleteGrant(ctx context.Context, user, role, app, env string) (acl.Grant, error) {
	defer s.pause()()
	return s.raceStore.DeleteGrant(ctx, user, role, app, env)
}

func (s *pausedWrites) Signal(ctx context.Context, id, kind, value string, ttl time.Duration) error {
	defer s.pause()()
	return s.raceStore.Signal(ctx, id, kind, value, ttl)
}

func (s *pausedWrites) SignalFirst(ctx context.Context, id, kind, value string, ttl time.Duration) (string, bool, error) {
	defer s.pause()()
	return s.raceStore.SignalFirst(ctx, id, kind, value, ttl)
}

func (s *pausedWrites) CheckInUnder(ctx context.Context, user string, until time.Time, under string) error {
	defer s.pause()()
	return s.raceStore.CheckInUnder(ctx, user, until, under)
}

func (s *pausedWrites) CheckOut(ctx context.Context, user string) error {
	defer s.pause()()
	return s.raceStore.CheckOut(ctx, user)
}

// otherRun is the id of a deploy of web/prod another replica runs.
const otherRun = "20261206-120000-a1b2c3"

// TestWriteReplyLost: a command whose write Redis took, but whose reply
// was lost, is not reported as having changed nothing, in its reply or
// its audit entry, which says its outcome is unknown, not that it was
// refused: what it wrote is there. It says that whether it took
// effect is not known, and where to look.
func TestWriteReplyLost(t *testing.T) {
	for _, tc := range []struct {
		name, user, text string
		want             string
		// marked are the commands the reply offers, as the bot marks
		// them (see suggest).
		marked []string
		// before, when set, readies the store for the command.
		before func(ctx context.Context, st *redis.Store) error
		// written reports whether the command's write is in st.
		written func(ctx context.Context, st *redis.Store) bool
	}{
		{
			name: "lock", user: "bob", text: "lock deploys web prod db maintenance",
			want:   "whether your lock on web/prod was set is not known (state store unreachable): status lists the locks in force",
			marked: []string{"status"},
			written: func(ctx context.Context, st *redis.Store) bool {
				locks, err := st.Locks(ctx)
				return err == nil && len(locks) == 1 && locks[0].Owner == "bob"
			},
		},
		{
			name: "grant", user: "ana", text: "grant @carl deployer web prod for 1h",
			want:   "whether carl was granted the role deployer on web/prod is not known (state store unreachable): grant it again, whose reply says whether it replaces this one, or take it back: revoke @carl deployer web prod",
			marked: []string{"revoke @carl deployer web prod"},
			written: func(ctx context.Context, st *redis.Store) bool {
				grants, err := st.Grants(ctx)
				return err == nil && len(grants) == 1 && grants[0].User == "carl" && grants[0].Role == "deployer"
			},
		},
		{
			name: "revoke", user: "ana", text: "revoke @carl deployer web prod",
			want: "whether the role deployer on web/prod was taken from carl is not known (state store unreachable): revoke it again: if it was, you are told carl has no runtime grant of it",
			before: func(ctx context.Context, st *redis.Store) error {
				return st.PutGrant(ctx, acl.Grant{User: "carl", Role: "deployer", App: "web", Env: "prod", GrantedBy: "ana", Created: time.Now()})
			},
			written: func(ctx context.Context, st *redis.Store) bool {
				grants, err := st.Grants(ctx)
				return err == nil && len(grants) == 0
			},
		},
		{
			name: "cancel", user: "bob", text: "cancel web prod",
			want:   "whether the cancel of deploy " + otherRun + " of web/prod was passed on to the replica running it is not known (state store unreachable): cancel web prod again, which does no harm; status web shows whether it still runs, and its progress messages say when it stops",
			marked: []string{"cancel web prod", "status web"},
			before: func(ctx context.Context, st *redis.Store) error {
				_, err := st.Acquire(ctx, deploy.LeaseKey("web", "prod"), otherRun+" deploy", time.Minute)
				return err
			},
			written: func(ctx context.Context, st *redis.Store) bool {
				_, ok, err := st.TakeSignal(ctx, otherRun, "cancel")
				return err == nil && ok
			},
		},
		{
			name: "confirm", user: "bob", text: "deploy confirm " + otherRun,
			want: "whether your answer to the prompt of deploy " + otherRun + " was passed on to the replica running it is not known (state store unreachable): answer again: if it was, you are told an answer is waiting; the deploy's progress messages say what it did",
			before: func(ctx context.Context, st *redis.Store) error {
				return st.PutRecord(ctx, &deploy.Record{ID: otherRun, Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Requester: "bob",
					Started: time.Now(), Outcome: deploy.OutcomeRunning, Awaiting: time.Now().Add(time.Minute)})
			},
			written: func(ctx context.Context, st *redis.Store) bool {
				_, ok, err := st.TakeSignal(ctx, otherRun, "confirm")
				return err == nil && ok
			},
		},
		{
			name: "here", user: "ana", text: "here",
			want:   "whether ana was checked in is not known (state store unreachable): admins lists who is around",
			marked: []string{"admins"},
			written: func(ctx context.Context, st *redis.Store) bool {
				present, err := st.Present(ctx)
				_, ok := present["ana"]
				return err == nil && ok
			},
		},
		{
			name: "away", user: "ana", text: "away",
			want:   "whether ana was checked out is not known (state store unreachable): admins lists who is around",
			marked: []string{"admins"},
			before: func(ctx context.Context, st *redis.Store) error {
				return st.CheckIn(ctx, "ana", time.Now().Add(time.Hour))
			},
			written: func(ctx context.Context, st *redis.Store) bool {
				present, err := st.Present(ctx)
				_, ok := present["ana"]
				return err == nil && !ok
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixture(t)
			_, st, _ := f.useRedisWith(redis.Options{ReadTimeout: 200 * time.Millisecond}, func(srv *redisserver.Server, st raceStore) raceStore {
				return &pausedWrites{raceStore: st, srv: srv}
			})
			if tc.before != nil {
				if err := tc.before(t.Context(), st); err != nil {
					t.Fatal(err)
				}
			}
			res, out, _ := f.do(tc.user, tc.text)
			// A long refusal is titled with what it says first, the rest
			// under it.
			m := out.lastMessage()
			raw := strings.Join(append([]string{m.Title}, m.Lines...), ": ")
			if got := suggest.Strip(raw); !res.Failed || got != tc.want {
				t.Errorf("%s: got failed %v, %q; want a refusal saying %q", tc.text, res.Failed, got, tc.want)
			}
			var marked []string
			suggest.Rewrite(raw, func(cmd string) string { marked = append(marked, cmd); return cmd })
			if !slices.Equal(marked, tc.marked) {
				t.Errorf("%s: commands marked as suggested %q; want %q", tc.text, marked, tc.marked)
			}
			entries, err := st.Audit(t.Context(), audit.Query{Limit: 1})
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit: got %+v, %v; want the command's entry", entries, err)
			}
			if e := entries[0]; e.Decision != audit.Unknown || e.Reason != tc.want {
				t.Errorf("audit entry: got %s, %q; want %s, %q", e.Decision, e.Reason, audit.Unknown, tc.want)
			}
			for deadline := time.Now().Add(10 * time.Second); !tc.written(t.Context(), st); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: its write is not in the store; want it there (Redis ran the write whose reply was lost)", tc.text)
				}
			}
		})
	}
}
