package discord

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
)

// TestInteractionAfterShutdown: an interaction that reaches the endpoint
// once Shutdown has begun is not run; its sender is told so, as over the
// gateway, and it is audited as refused because the bot was stopping.
func TestInteractionAfterShutdown(t *testing.T) {
	for _, tt := range []struct {
		name     string
		payload  map[string]any
		received string // the audit entry's command
	}{
		{"slash command", slashCommand("601", "111", "whoami"), "/whoami"},
		{"button", buttonClick("602", "111", "rollback web prod from 1337"), "rollback web prod from 1337"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
				out.Reply(chat.Message{Level: chat.Info, Title: "ran"})
				return commands.Outcome{}
			}}
			hs := newHarness(t, h, nil)
			hs.shutdown(t)
			resp := responseOf(t, hs.post(t, tt.payload))
			b, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			if resp["type"] != float64(4) || !strings.Contains(string(b), noticeRestarting) || !strings.Contains(string(b), `"flags":64`) {
				t.Errorf("response %s, want an ephemeral message saying %q", b, noticeRestarting)
			}
			waitFor(t, "the refusal audited", func() bool { return len(h.Audited()) > 0 })
			if got := h.Audited(); len(got) != 1 || got[0].User != "ana" || got[0].Platform != Platform || got[0].Channel != testChannel ||
				got[0].Text != tt.received || got[0].Refused != reasonStopping {
				t.Errorf("audited %+v, want one refusal of ana's %q saying %q", got, tt.received, reasonStopping)
			}
			if got := h.Requests(); len(got) != 0 {
				t.Errorf("requests %+v, want none run", got)
			}
		})
	}
}
