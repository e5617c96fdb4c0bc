package commands_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// deleteThenFail is a store that deletes a lock and then fails, as a Redis
// whose reply to the delete was lost.
type deleteThenFail struct {
	commands.Store
	err error
}

func (s *deleteThenFail) DeleteLock(ctx context.Context, app, env string) (deploy.Lock, error) {
	if _, err := s.Store.DeleteLock(ctx, app, env); err != nil {
		return deploy.Lock{}, err
	}
	return deploy.Lock{}, s.err
}

// TestUnlockOutcomeUnknown: an unlock whose delete may have been applied
// although the store answered with an error is not reported as having
// changed nothing: the lock may be gone. It says the outcome is not known
// and where to look, and its audit entry says so too.
func TestUnlockOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"reply lost", errors.New("read tcp 127.0.0.1:41234->127.0.0.1:6379: i/o timeout")},
		{"store unreachable", errs.Wrap(errs.Unavailable, errors.New("redis at 127.0.0.1:6379: EOF"), "state store unreachable")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixture(t)
			if r, out, _ := f.do("ana", "lock deploys web prod db maintenance"); r.Failed {
				t.Fatalf("ana's lock: %s", out.last())
			}
			st := &deleteThenFail{Store: f.store, err: tc.err}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
			out := newRecorder()
			res := svc.Handle(t.Context(), commands.Request{User: "ana", Platform: "console", Channel: "console", Text: "unlock deploys web prod"}, out)
			got := out.last()
			want := "whether the lock on web/prod was lifted is not known (state store unreachable): status lists the locks in force"
			if !res.Failed || !strings.Contains(got, want) || strings.Contains(got, "nothing was changed") {
				t.Errorf("unlock: got failed %v, %q; want a refusal with %q, not saying nothing was changed", res.Failed, got, want)
			}
			if entries, err := f.store.Audit(t.Context(), audit.Query{Limit: 1}); err != nil || len(entries) != 1 || entries[0].Decision != audit.Unknown || entries[0].Reason != want {
				t.Errorf("audit: got %+v, %v; want the unlock's entry, of unknown outcome: %q", entries, err, want)
			}
			if locks, err := f.store.Locks(t.Context()); err != nil || len(locks) != 0 {
				t.Fatalf("locks after the unlock: %+v, %v; want none (the delete was applied)", locks, err)
			}
		})
	}
}
