package commands_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// resetMsg stands for the message of a shared store reset under the bot.
const resetMsg = "the state store was reset, so nothing was run: its id is gone; restart the bot"

// resetStore fails as the Redis store does once it found its data wiped:
// every read and write, the audit entry of the refusal included, with
// code Unavailable and a message of its own.
type resetStore struct {
	*embedded.Store
	audits int
}

func (s *resetStore) err(op string) error {
	return fmt.Errorf("%s: %w", op, &errs.Error{Code: errs.Unavailable, Msg: resetMsg, Err: fmt.Errorf("store id gone: %w", deploy.ErrStoreReset)})
}

func (s *resetStore) Grants(context.Context) ([]acl.Grant, error)  { return nil, s.err("list grants") }
func (s *resetStore) Locks(context.Context) ([]deploy.Lock, error) { return nil, s.err("list locks") }
func (s *resetStore) AppendAudit(context.Context, *audit.Entry) error {
	s.audits++
	return s.err("append audit entry")
}

// TestStoreResetRefusal: a command the store's reset refuses runs nothing
// and tells the requester the store's message, not only "state store
// unreachable", even though its audit entry cannot be written either. A
// command that changes state is refused at its first audit write, before
// it reads anything, and says so; one that only reads is refused by its
// read and told its entry is lost.
func TestStoreResetRefusal(t *testing.T) {
	const unaudited = "Not run: the audit log cannot be written, so nothing was changed: " + resetMsg
	for _, tc := range []struct{ user, text, want string }{
		{"bob", "deploy web 1", unaudited},
		{"ana", "lock deploys web prod db migration running", unaudited},
		{"ana", "unlock deploys web", unaudited},
		{"carl", "status web", resetMsg},
	} {
		t.Run(tc.text, func(t *testing.T) {
			f := newServiceFixture(t)
			st := &resetStore{Store: f.store}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
			out := newRecorder()
			res := svc.Handle(t.Context(), commands.Request{User: tc.user, Platform: "test", Channel: "C1", Text: tc.text}, out)
			if !res.Failed || res.DeployID != "" || res.Code != errs.Unavailable {
				t.Errorf("got failed %v, deploy %q, code %s; want refused with code %s, no deploy", res.Failed, res.DeployID, res.Code, errs.Unavailable)
			}
			if len(out.replies) == 0 {
				t.Fatal("got no reply, want the refusal")
			}
			m := out.replies[0]
			if got := strings.Join(append([]string{m.Title}, m.Lines...), ": "); got != tc.want {
				t.Errorf("refusal: got %q, want %q", got, tc.want)
			}
			switch {
			case tc.want == unaudited && (st.audits != 1 || len(out.replies) != 1):
				t.Errorf("audit: %d appends, %d replies; want the one refused append said in the one reply", st.audits, len(out.replies))
			case tc.want != unaudited && (st.audits == 0 || !strings.Contains(out.last(), "The audit log cannot be written: "+resetMsg)):
				t.Errorf("audit: %d appends, last reply %q; want the lost entry said to the requester", st.audits, out.last())
			}
			if recs, err := f.store.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
				t.Errorf("records: got %d, %v, want none", len(recs), err)
			}
		})
	}
}
