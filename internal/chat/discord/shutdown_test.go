package discord

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/store/embedded"
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
				got[0].Text != tt.received || got[0].Refused != reasonStopping || got[0].RefusedFor != commands.RefusalDraining {
				t.Errorf("audited %+v, want one refusal of ana's %q saying %q, counted as draining", got, tt.received, reasonStopping)
			}
			if got := h.Requests(); len(got) != 0 {
				t.Errorf("requests %+v, want none run", got)
			}
		})
	}
}

// TestDeferredInteractionAsTheBotStops: an interaction under way at the
// endpoint as the bot is told to stop (its duplicate check still running)
// is answered "thinking…", and Shutdown waits for its command. When
// Shutdown gives up first, the command is not run: it is audited as
// refused because the bot was stopping, and its sender is told so in
// place of the "thinking…", which would otherwise stay for 15 minutes.
func TestDeferredInteractionAsTheBotStops(t *testing.T) {
	for _, tt := range []struct {
		name    string
		payload map[string]any
		giveUp  bool     // Shutdown's context has ended
		runs    bool     // the command runs
		calls   []string // the REST calls that follow the response
		said    string   // in the last of them
	}{
		{name: "Shutdown waits for it", payload: slashCommand("611", "111", "whoami"), runs: true,
			calls: []string{"PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("611") + "/messages/@original"}, said: "You are ana"},
		{name: "Shutdown gives up", payload: slashCommand("612", "111", "whoami"), giveUp: true,
			calls: []string{"PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("612") + "/messages/@original"}, said: noticeRestarting},
		{name: "Shutdown gives up on a public command", payload: deploySlash("613", "111"), giveUp: true,
			calls: []string{
				"DELETE /api/v9/webhooks/" + testAppID + "/" + interactionToken("613") + "/messages/@original",
				"POST /api/v9/webhooks/" + testAppID + "/" + interactionToken("613") + "?wait=true",
			}, said: noticeRestarting},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			h := &fakeHandler{fn: func(_ context.Context, req commands.Request, out commands.Output) commands.Outcome {
				out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
				return commands.Outcome{}
			}}
			shut := make(chan error, 1)
			dd := &stopOnDedupe{store: st}
			hs := newHarness(t, h, func(o *Options) { o.Dedupe = dd })
			dd.stop = func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if tt.giveUp {
					cancel()
				}
				go func() {
					defer cancel()
					shut <- hs.a.Shutdown(ctx)
				}()
				waitFor(t, "Shutdown to begin", hs.a.isClosed)
			}
			resp := responseOf(t, hs.post(t, tt.payload))
			if resp["type"] != float64(5) {
				t.Errorf("response %v, want a deferred one (type 5)", resp)
			}
			select {
			case err := <-shut:
				if wantErr := tt.giveUp; (err != nil) != wantErr {
					t.Errorf("Shutdown: %v, want an error: %v", err, wantErr)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Shutdown did not return")
			}
			calls := hs.fd.waitCalls(t, len(tt.calls))
			for i, c := range calls {
				if i >= len(tt.calls) || c.Method+" "+c.Path != tt.calls[i] {
					t.Fatalf("calls %s, want %q", transcript(t, calls), tt.calls)
				}
			}
			if last := calls[len(calls)-1]; !strings.Contains(string(last.Body), tt.said) {
				t.Errorf("last call %s, want it to say %q", last.Body, tt.said)
			}
			reqs := h.Requests()
			if tt.runs != (len(reqs) == 1) || len(reqs) > 1 {
				t.Errorf("requests %+v, want the command run: %v", reqs, tt.runs)
			}
			if tt.runs {
				if got := h.Audited(); len(got) != 0 {
					t.Errorf("audited refusals %+v, want none: the command ran", got)
				}
				return
			}
			waitFor(t, "the refusal audited", func() bool { return len(h.Audited()) > 0 })
			if got := h.Audited(); len(got) != 1 || got[0].User != "ana" || got[0].Platform != Platform || got[0].Channel != testChannel ||
				got[0].Text == "" || got[0].Refused != reasonStopping || got[0].RefusedFor != commands.RefusalDraining {
				t.Errorf("audited %+v, want one refusal of ana's command saying %q, counted as draining", got, reasonStopping)
			}
		})
	}
}

// TestShutdownWaitsForRefusalAudits: the audit write of an interaction
// refused before it reached the handler runs in the background, so that
// the answer does not wait for it; Shutdown waits for it, or a store
// closed after Shutdown, as the bot closes it, would lose the entry.
func TestShutdownWaitsForRefusalAudits(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stop   bool   // the interaction arrives while Shutdown waits for a command
		reason string // of the refusal
	}{
		{name: "duplicate check failed", reason: "state store unreachable (found by the duplicate check); nothing was run"},
		{name: "arrived while the bot stops", stop: true, reason: reasonStopping},
	} {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			h := &fakeHandler{fn: func(_ context.Context, req commands.Request, out commands.Output) commands.Outcome {
				<-release
				out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
				return commands.Outcome{}
			}}
			h.Slow = 300 * time.Millisecond
			hs := newHarness(t, h, func(o *Options) {
				if !tt.stop {
					o.Dedupe = failingDedupe{}
				}
			})
			shut := make(chan error, 1)
			if tt.stop {
				// A command under way holds Shutdown until it ends.
				responseOf(t, hs.post(t, slashCommand("621", "111", "whoami")))
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					shut <- hs.a.Shutdown(ctx)
				}()
				waitFor(t, "Shutdown to begin", hs.a.isClosed)
			}
			resp := responseOf(t, hs.post(t, buttonClick("622", "111", "rollback web prod from 1337")))
			if resp["type"] != float64(4) {
				t.Errorf("response %v, want the refusal at once (type 4)", resp)
			}
			close(release)
			if !tt.stop {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					shut <- hs.a.Shutdown(ctx)
				}()
			}
			select {
			case err := <-shut:
				if err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Shutdown did not return")
			}
			// No waiting: the write is done by the time Shutdown returns.
			if got := h.Audited(); len(got) != 1 || got[0].User != "ana" || got[0].Text != "rollback web prod from 1337" || got[0].Refused != tt.reason {
				t.Errorf("audited when Shutdown returned: %+v, want ana's button refused saying %q", got, tt.reason)
			}
		})
	}
}

// TestRefusalAfterShutdownIsLogged: an interaction refused once Shutdown
// has returned has its audit write go on alone: nothing waits for it
// any more, the bot closes the state store and may exit before the write
// ends, or its failure is logged; the refusal was then in the audit log
// nowhere, and in the bot's log nowhere either. It is now logged at WARN
// with what the audit entry would say, before the write is tried.
func TestRefusalAfterShutdownIsLogged(t *testing.T) {
	h := &fakeHandler{}
	h.Stuck = true // the store, being closed, does not answer
	hs := newHarness(t, h, nil)
	hs.shutdown(t)
	resp := responseOf(t, hs.post(t, slashCommand("605", "111", "whoami")))
	if b, _ := json.Marshal(resp); !strings.Contains(string(b), noticeRestarting) {
		t.Fatalf("response %s, want %q", b, noticeRestarting)
	}
	// Not waited for: the write, stuck, runs for refusals.Timeout.
	want := []string{"level=WARN", "user=ana", "platform=discord", "channel=" + testChannel, "command=/whoami", `reason="` + reasonStopping + `"`}
	var line string
	for _, l := range strings.Split(hs.logs.String(), "\n") {
		if strings.Contains(l, "refused as the bot stops") {
			line = l
		}
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("log line %q lacks %q; log:\n%s", line, w, hs.logs.String())
		}
	}
}

// TestReplyAfterShutdownIsAudited: a command that outlives Shutdown (a
// deploy's report, say) may reply once nothing sends replies any more.
// Such a reply was dropped with a log line giving its title alone, and
// was in the audit log nowhere. It is now logged at WARN with whose
// command it answered, where, and what it said, before its audit entry
// is written.
func TestReplyAfterShutdownIsAudited(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, nil)
	responseOf(t, hs.post(t, slashCommand("631", "111", "whoami")))
	out := h.waitOut(t, 1)
	hs.shutdown(t)
	before := len(hs.fd.Calls())

	const title = "Deploy d-9 of web/prod failed on host0"
	out.Reply(chat.Message{Level: chat.Failure, Title: title})

	waitFor(t, "the dropped reply audited", func() bool { return len(h.DroppedReplies()) > 0 })
	got := h.DroppedReplies()
	if len(got) != 1 || got[0].req.User != "ana" || got[0].req.Platform != Platform || got[0].req.Channel != testChannel ||
		got[0].req.Text != "whoami" || got[0].title != title || got[0].why != reasonReplyDropped {
		t.Errorf("audited %+v, want one reply to ana's whoami in %s titled %q, dropped as %q", got, testChannel, title, reasonReplyDropped)
	}
	var line string
	for _, l := range strings.Split(hs.logs.String(), "\n") {
		if strings.Contains(l, "reply dropped") {
			line = l
		}
	}
	for _, w := range []string{"level=WARN", "user=ana", "platform=discord", "channel=" + testChannel, "command=whoami", `title="` + title + `"`} {
		if !strings.Contains(line, w) {
			t.Errorf("log line %q lacks %q; log:\n%s", line, w, hs.logs.String())
		}
	}
	if calls := hs.fd.Calls(); len(calls) != before {
		t.Errorf("calls after Shutdown %s, want none", transcript(t, calls[before:]))
	}
}
