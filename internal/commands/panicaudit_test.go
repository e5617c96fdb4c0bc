package commands_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// panickingOutput is an adapter's output that panics on the reply, as a
// platform library may: the adapter recovers it and the bot goes on.
type panickingOutput struct{}

func (panickingOutput) Reply(chat.Message)    { panic("reply failed") }
func (panickingOutput) Progress(deploy.Event) {}

// TestPanicClosesThePendingEntry: a command that changes state and
// panics once its pending entry is written still gets an outcome entry
// closing it, and the panic goes on to the adapter. Left open, the log
// read it as a bot that stopped, or a command still running.
func TestPanicClosesThePendingEntry(t *testing.T) {
	f := newGuardFixture(t, "")
	for _, text := range []string{"here for 1h", "lock deploys web prod maintenance"} {
		t.Run(text, func(t *testing.T) {
			func() {
				defer func() {
					if r := recover(); r == nil {
						t.Errorf("Handle: got no panic, want the output's panic passed on")
					}
				}()
				f.svc.Handle(context.Background(), commands.Request{User: "ana", Platform: "test", Channel: "C1", Text: text}, panickingOutput{})
			}()
			raw, err := f.store.Audit(t.Context(), audit.Query{Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != 2 || raw[1].Decision != audit.Pending || raw[0].Intent != raw[1].Seq {
				t.Fatalf("audit: got %+v, want the pending entry and its outcome", raw)
			}
			if got := audit.Fold(raw); len(got) != 1 || got[0].Decision != audit.Unknown || got[0].Reason != panicReason {
				t.Errorf("audit shown: got %+v, want one line, unknown for %q", got, panicReason)
			}
		})
	}
}

const panicReason = "outcome unknown: the command failed while it ran (a panic, see the bot's log); what it had changed by then is not known"

// TestPanicOfAReadIsAudited: a command audited once it has run (one that
// only reads, or a refusal of the parser) that panics (its reply failed)
// is in the audit log all the same, with its decision and the failure,
// and the panic goes on to the adapter.
func TestPanicOfAReadIsAudited(t *testing.T) {
	f := newGuardFixture(t, "")
	tests := []struct {
		text, command string
		decision      audit.Decision
	}{
		{"status", "status", audit.Allowed},
		{"help", "help", audit.Allowed},
		{"whoami", "whoami", audit.Allowed},
		{"admins", "admins", audit.Allowed},
		{"audit 5", "audit 5", audit.Allowed},
		{"deploy wеb 1", "deploy wеb 1", audit.Refused},
		{"frobnicate", "frobnicate", audit.Refused},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			before, err := f.store.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			func() {
				defer func() {
					if r := recover(); r == nil {
						t.Errorf("Handle: got no panic, want the output's panic passed on")
					}
				}()
				f.svc.Handle(context.Background(), commands.Request{User: "ana", Platform: "test", Channel: "C1", Text: tt.text}, panickingOutput{})
			}()
			after, err := f.store.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(after) - len(before); got != 1 {
				t.Fatalf("audit entries written: got %d, want 1", got)
			}
			e := after[0]
			if e.Command != tt.command || e.User != "ana" || e.Decision != tt.decision || !strings.HasSuffix(e.Reason, commands.ReadPanicReason) {
				t.Errorf("audit entry: got %q by %q, %s: %q; want %q by ana, %s, ending %q", e.Command, e.User, e.Decision, e.Reason, tt.command, tt.decision, commands.ReadPanicReason)
			}
		})
	}
}

// outcomeFails is a store whose every outcome entry (one closing a
// pending entry) fails to be written, its disk full, and which counts the
// tries; other entries are written.
type outcomeFails struct {
	*embedded.Store
	mu       sync.Mutex
	outcomes int
}

func (s *outcomeFails) AppendAudit(ctx context.Context, e *audit.Entry) error {
	if e.Intent == 0 {
		return s.Store.AppendAudit(ctx, e)
	}
	s.mu.Lock()
	s.outcomes++
	s.mu.Unlock()
	return fmt.Errorf("append audit entry: %w", deploy.ErrStoreFull)
}

// panicOnAuditReply panics on the reply saying the audit log cannot be
// written, and takes the others.
type panicOnAuditReply struct{ *recorder }

func (o panicOnAuditReply) Reply(m chat.Message) {
	if strings.Contains(m.Title, "audit log") {
		panic("reply failed")
	}
	o.recorder.Reply(m)
}

// TestPanicAfterTheOutcomeWritesNoSecond: a command whose outcome entry
// was tried, and whose reply saying it failed panics, is not closed a
// second time as it panics: its one outcome is the one tried. Written
// again, a command would have two outcomes, one of them "unknown" for
// a command that ran to its end.
func TestPanicAfterTheOutcomeWritesNoSecond(t *testing.T) {
	f := newGuardFixture(t, "")
	for _, text := range []string{"here for 1h", "lock deploys web prod maintenance"} {
		t.Run(text, func(t *testing.T) {
			st := &outcomeFails{Store: f.store}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Now: f.clock.Now})
			func() {
				defer func() {
					if r := recover(); r == nil {
						t.Errorf("Handle: got no panic, want the output's panic passed on")
					}
				}()
				svc.Handle(context.Background(), commands.Request{User: "ana", Platform: "test", Channel: "C1", Text: text}, panicOnAuditReply{newRecorder()})
			}()
			if st.outcomes != 1 {
				t.Errorf("outcome entries tried: got %d, want 1", st.outcomes)
			}
		})
	}
}
