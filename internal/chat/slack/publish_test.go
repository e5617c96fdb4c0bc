package slack_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/chattest"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// chattyHandler "deploys" by sending many progress events quickly, from
// another goroutine, as the engine does.
type chattyHandler struct {
	chattest.Undelivered
	events int
	every  time.Duration
	// start, when set, holds the events back until it is closed, so a
	// test can see the progress post land before its updates come.
	start chan struct{}
	// finishing is when the last note of a deploy had been sent and its
	// final state was about to be: the latest of them.
	mu        sync.Mutex
	finishing time.Time
	wg        sync.WaitGroup
}

func (h *chattyHandler) AuditRefusal(context.Context, commands.Request) error { return nil }

func (h *chattyHandler) Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome {
	id := "d-" + strings.Fields(req.Text)[2]
	rec := &deploy.Record{ID: id, Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "1", Requester: req.User, Started: time.Now(),
		Outcome: deploy.OutcomeRunning, Hosts: []deploy.HostResult{{Host: "h1", State: deploy.HostPending}}}
	ev := func(e deploy.Event) deploy.Event {
		e.DeployID, e.App, e.Env, e.Build, e.Time = id, "web", "prod", "1", time.Now()
		return e
	}
	out.Progress(ev(deploy.Event{Kind: deploy.EventStarted, Record: rec.Clone()}))
	h.wg.Go(func() {
		if h.start != nil {
			<-h.start
		}
		for i := range h.events {
			time.Sleep(h.every)
			out.Progress(ev(deploy.Event{Kind: deploy.EventNote, Text: fmt.Sprintf("note %d", i)}))
		}
		h.mu.Lock()
		h.finishing = time.Now()
		h.mu.Unlock()
		final := rec.Clone()
		final.Outcome, final.Finished, final.Hosts[0].State = deploy.OutcomeSucceeded, time.Now(), deploy.HostActive
		out.Progress(ev(deploy.Event{Kind: deploy.EventFinished, Record: final}))
	})
	return commands.Outcome{DeployID: id}
}

func TestProgressCoalesced(t *testing.T) {
	api := newFakeSlack(t)
	h := &chattyHandler{events: 200, every: 5 * time.Millisecond} // about 1 s of events
	const interval = 200 * time.Millisecond
	a, _, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
		o.Handler, o.Now, o.UpdateInterval, o.UpdatesPerMinute, o.Refresh = h, time.Now, interval, 6000, -1
	})
	w := serve(t, a.Commands(), slashForm("UBOB", "C1", "/deploy", "web 1 one", "T1", ""))
	if w != 200 {
		t.Fatalf("status %d", w)
	}
	// Wait returns once every handler returned and every progress message
	// is final, which is after the handler's goroutine ended.
	a.Stop()
	a.Wait()
	h.wg.Wait()
	calls := only(api.snapshot(), "chat.postMessage", "chat.update")
	if len(calls) < 2 {
		t.Fatalf("calls for 202 events: got %d, want the post and its edits:\n%s", len(calls), describe(calls))
	}
	// Coalesced, not queued: once the last note is out, what Slack still
	// sees is at most the edit already under way and one with the final
	// state, however slowly the notes came. A queue would still owe
	// Slack an edit for most of the 200 notes.
	h.mu.Lock()
	finishing := h.finishing
	h.mu.Unlock()
	after := 0
	for _, c := range calls {
		if c.At.After(finishing) {
			after++
		}
	}
	if after > 2 {
		t.Errorf("%d calls after the last note, want at most 2 (the edit under way and the final state):\n%s", after, describe(calls))
	}
	for i := 1; i < len(calls); i++ {
		if d := calls[i].At.Sub(calls[i-1].At); d < interval-10*time.Millisecond {
			t.Errorf("calls %d and %d: %s apart, want at least %s", i-1, i, d, interval)
		}
	}
	if last := calls[len(calls)-1]; !strings.Contains(last.Text, "now runs 1") {
		t.Errorf("last call: got %q, want the final state", last.Text)
	}
}

func TestProgressGlobalLimit(t *testing.T) {
	api := newFakeSlack(t)
	h := &chattyHandler{events: 40, every: 5 * time.Millisecond}
	const perMinute = 600 // one call per 100 ms across deploys
	a, _, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
		o.Handler, o.Now, o.UpdateInterval, o.UpdatesPerMinute, o.Refresh = h, time.Now, 10*time.Millisecond, perMinute, -1
	})
	start := time.Now()
	for i := range 5 {
		serve(t, a.Commands(), slashForm("UBOB", "C1", "/deploy", fmt.Sprintf("web 1 d%d", i), fmt.Sprintf("T%d", i), ""))
	}
	// Wait returns once every handler returned and every progress message
	// is final, which is after the handler's goroutine ended.
	a.Stop()
	a.Wait()
	h.wg.Wait()
	calls := only(api.snapshot(), "chat.postMessage", "chat.update")
	// The limiter books one slot per 100 ms, none before start, and no
	// call leaves before its slot; a busy machine only makes a call
	// arrive later than its slot. So the k-th call to arrive (from 0)
	// arrives no sooner than k slots after start, however late any call
	// was: without the limit, five deploys would send many within the
	// first 100 ms.
	if len(calls) < 5 {
		t.Fatalf("%d calls, want at least 5 to judge the rate:\n%s", len(calls), describe(calls))
	}
	arrived := make([]time.Time, len(calls))
	for i, c := range calls {
		arrived[i] = c.At
	}
	slices.SortFunc(arrived, time.Time.Compare)
	for k, at := range arrived {
		if least := time.Duration(k) * 100 * time.Millisecond; at.Sub(start) < least {
			t.Errorf("call %d arrived %s after the first command, want at least %s at one call per 100 ms across all deploys", k, at.Sub(start), least)
		}
	}
	finals := 0
	for _, c := range calls {
		if strings.Contains(c.Text, "now runs 1") {
			finals++
		}
	}
	if finals != 5 {
		t.Errorf("final states sent: got %d, want one per deploy (5):\n%s", finals, describe(calls))
	}
}

// serve sends a signed request to h and returns the status.
func serve(t *testing.T, h interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request)
}, body string) int {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signed(t, "/slack/commands", testSecret, body, time.Now(), formType))
	return w.Code
}

// TestProgressOutlastsATransientError: Slack's own trouble on the first
// post (internal_error) is tried again; the progress message is posted
// and edited where it belongs, not given up for the final state alone.
func TestProgressOutlastsATransientError(t *testing.T) {
	api := newFakeSlack(t)
	api.failNext["chat.postMessage"] = "internal_error"
	h := &chattyHandler{events: 20, every: 100 * time.Millisecond}
	a, _, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
		o.Handler, o.Now, o.UpdateInterval, o.UpdatesPerMinute, o.Refresh = h, time.Now, 50*time.Millisecond, 6000, -1
	})
	if w := serve(t, a.Commands(), slashForm("UBOB", "C1", "/deploy", "web 1 one", "T1", "")); w != 200 {
		t.Fatalf("status %d", w)
	}
	a.Stop()
	a.Wait()
	h.wg.Wait()
	calls := only(api.snapshot(), "chat.postMessage", "chat.update")
	updates := only(calls, "chat.update")
	if len(updates) == 0 || !strings.Contains(updates[len(updates)-1].Text, "now runs 1") {
		t.Errorf("want the posted message edited up to the final state:\n%s", describe(calls))
	}
}

// TestProgressLeavesAChannelItCannotEdit: once Slack refuses edits of a
// deploy's message for good (the channel archived, the bot removed from
// it), the progress goes on elsewhere, as when the message could not be
// posted there: the final state reaches the requester rather than being
// retried into the same refusal until it is given up.
func TestProgressLeavesAChannelItCannotEdit(t *testing.T) {
	api := newFakeSlack(t)
	h := &chattyHandler{events: 20, every: 100 * time.Millisecond}
	a, _, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
		o.Handler, o.Now, o.UpdateInterval, o.UpdatesPerMinute, o.Refresh = h, time.Now, 50*time.Millisecond, 6000, -1
		o.FinalDeadline = 2 * time.Second
	})
	if w := serve(t, a.Commands(), slashForm("UBOB", "C1", "/deploy", "web 1 one", "T1", api.srv.URL+"/response/1")); w != 200 {
		t.Fatalf("status %d", w)
	}
	api.waitFor("the progress message", func(calls []apiCall) bool {
		return len(only(calls, "chat.update")) > 0
	})
	api.mu.Lock()
	api.failIn["C1"] = "is_archived"
	api.mu.Unlock()
	a.Stop()
	a.Wait()
	h.wg.Wait()
	calls := api.snapshot()
	var final bool
	for _, c := range only(calls, "response_url") {
		final = final || strings.Contains(c.Text, "now runs 1")
	}
	if !final {
		t.Errorf("want the final state through the response URL:\n%s", describe(calls))
	}
}

// TestProgressFinalStateToTheRequesterAlone: where the bot can post the
// progress message nowhere (a private channel it is not in), the final
// state reaches the requester alone, through the response URL as an
// ephemeral answer, not as a post that the whole channel sees.
func TestProgressFinalStateToTheRequesterAlone(t *testing.T) {
	for _, code := range []string{"channel_not_found", "not_in_channel", "is_archived"} {
		t.Run(code, func(t *testing.T) {
			api := newFakeSlack(t)
			api.failIn["C1"] = code
			h := &chattyHandler{events: 3, every: 20 * time.Millisecond}
			a, _, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
				o.Handler, o.Now, o.UpdateInterval, o.UpdatesPerMinute, o.Refresh = h, time.Now, 10*time.Millisecond, 6000, -1
				o.FinalDeadline = 2 * time.Second
			})
			if w := serve(t, a.Commands(), slashForm("UBOB", "C1", "/deploy", "web 1 one", "T1", api.srv.URL+"/response/1")); w != 200 {
				t.Fatalf("status %d", w)
			}
			a.Stop()
			a.Wait()
			h.wg.Wait()
			var finals []apiCall
			for _, c := range only(api.snapshot(), "response_url") {
				if strings.Contains(c.Text, "now runs 1") {
					finals = append(finals, c)
				}
			}
			if len(finals) != 1 {
				t.Fatalf("final states through the response URL: got %d, want 1:\n%s", len(finals), describe(api.snapshot()))
			}
			if got := finals[0].User; got != "ephemeral" {
				t.Errorf("response_type of the final state: got %q, want %q (the requester alone)", got, "ephemeral")
			}
		})
	}
}

// TestProgressFinalStateNowhere: where the final state reaches nobody
// (the bot may post neither in the channel nor to the requester, and the
// command's response URL, if any, refuses it too), it is noted for status,
// as on Discord, naming what refused the last attempt.
func TestProgressFinalStateNowhere(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // a response URL that refuses the connection
	tests := []struct {
		name        string
		responseURL string
		channel     string
		via         string
		reason      string
	}{
		{name: "no response URL", channel: "C1", reason: "channel_not_found"},
		{name: "the response URL refuses", responseURL: gone.URL + "/response/1", via: "through the command's response URL", reason: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeSlack(t)
			api.failIn["C1"] = "channel_not_found"
			h := &chattyHandler{events: 3, every: 20 * time.Millisecond}
			a, _, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
				o.Handler, o.Now, o.UpdateInterval, o.UpdatesPerMinute, o.Refresh = h, time.Now, 10*time.Millisecond, 6000, -1
				o.FinalDeadline = 2 * time.Second
			})
			if w := serve(t, a.Commands(), slashForm("UBOB", "C1", "/deploy", "web 1 one", "T1", tt.responseURL)); w != 200 {
				t.Fatalf("status %d", w)
			}
			a.Stop()
			a.Wait()
			h.wg.Wait()
			notes := h.Notes()
			if len(notes) != 1 {
				t.Fatalf("notes %+v, want one:\n%s", notes, describe(api.snapshot()))
			}
			if n := notes[0]; n.DeployID != "d-1" || n.App != "web" || n.Env != "prod" || n.Platform != slack.Platform || n.Channel != tt.channel ||
				n.Via != tt.via || !strings.Contains(n.Reason, tt.reason) {
				t.Errorf("note %+v, want d-1 web/prod in slack channel %q via %q, refused for %s", n, tt.channel, tt.via, tt.reason)
			}
		})
	}
}

// TestChannelMessagesAreNotUnfurled: Slack fetches every URL of a message
// the bot posts, and shows the media ones (an image) under it, unless the
// post says not to. The text of the bot's messages comes in part from
// outside (a host's error, a Sentry issue's title): whoever writes it
// must not put pictures of their choosing in the deploy channel.
func TestChannelMessagesAreNotUnfurled(t *testing.T) {
	api := newFakeSlack(t)
	client := slack.NewClient("xoxb-test", api.apiURL(), nil, nil)
	alert := chat.Message{Level: chat.Failure, Title: "web/prod: new issue", Lines: []string{"see https://img.example.com/deploy-ok.png"}}
	if err := client.Post(context.Background(), "C1", alert); err != nil {
		t.Fatalf("Post: %v", err)
	}
	// The updates are held back until the progress post has landed:
	// events that all come before it would be folded into that one post,
	// and the test would see no chat.update.
	h := &chattyHandler{events: 3, start: make(chan struct{})}
	a, _, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
		o.Handler, o.Now, o.UpdateInterval, o.Refresh = h, time.Now, time.Millisecond, -1
	})
	if w := serve(t, a.Commands(), slashForm("UBOB", "C1", "/deploy", "web 1 one", "T1", "")); w != 200 {
		t.Fatalf("status %d", w)
	}
	api.waitFor("the progress post", func(calls []apiCall) bool {
		return len(only(calls, "chat.postMessage")) == 2
	})
	close(h.start)
	a.Stop()
	a.Wait()
	h.wg.Wait()
	calls := only(api.snapshot(), "chat.postMessage", "chat.update")
	if len(only(calls, "chat.update")) == 0 {
		t.Fatalf("calls: no chat.update, want the alert, a progress post and its updates:\n%s", describe(calls))
	}
	for i, c := range calls {
		if want := "links=false media=false"; c.Unfurl != want {
			t.Errorf("call %d (%s): got unfurl %q, want %q", i, c.Method, c.Unfurl, want)
		}
	}
}

// TestResponseURLMessagesAreNotUnfurled: a reply through a command's
// response URL (where the bot cannot post, or Slack rate-limits it) is
// posted with unfurling off, as every other message of the bot is.
func TestResponseURLMessagesAreNotUnfurled(t *testing.T) {
	tests := []struct {
		name    string
		command string
		text    string
		deploy  bool
	}{
		{name: "reply", command: "/status", text: "web"},
		{name: "link to the progress", command: "/deploy", text: "web 1 one", deploy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeSlack(t)
			api.failIn["DREQ"] = "channel_not_found" // a direct message between two people
			h := &chattyHandler{events: 1}
			a, _, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
				if tt.deploy {
					o.Handler = h
				}
				o.Now, o.UpdateInterval, o.Refresh = time.Now, time.Millisecond, -1
			})
			if w := serve(t, a.Commands(), slashForm("UBOB", "DREQ", tt.command, tt.text, "T1", api.srv.URL+"/response/1")); w != 200 {
				t.Fatalf("status %d", w)
			}
			a.Stop()
			a.Wait()
			h.wg.Wait()
			calls := only(api.snapshot(), "response_url")
			if len(calls) == 0 {
				t.Fatalf("got no message through the response URL:\n%s", describe(api.snapshot()))
			}
			for i, c := range calls {
				if want := "links=false media=false"; c.Unfurl != want {
					t.Errorf("response_url %d (%q): got unfurl %q, want %q", i, firstLine(c.Text), c.Unfurl, want)
				}
				if want := "replace=false delete=false"; c.Original != want {
					t.Errorf("response_url %d (%q): got %q, want %q: left out, Slack may replace the message a clicked button is in", i, firstLine(c.Text), c.Original, want)
				}
			}
		})
	}
}
