package slack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat/slack"
)

// TestBotUserLearntAfterStartUp: auth.test failed at start-up, so the bot
// does not know its member ID and refuses a slash command that starts
// with a mention and a mention naming several members. It asks again in
// the background, backing off, and once Slack answers it runs them,
// without a restart. Its log says so once per change, and never holds the
// token.
func TestBotUserLearntAfterStartUp(t *testing.T) {
	tests := []struct {
		name  string
		fail  func(api *fakeSlack) // makes auth.test fail until heal
		heal  func(api *fakeSlack)
		least time.Duration // between two calls of auth.test
	}{
		{"slack's own error", func(api *fakeSlack) { api.failWith["auth.test"] = "fatal_error" }, func(api *fakeSlack) { delete(api.failWith, "auth.test") }, 20 * time.Millisecond},
		{"the token refused for a while", func(api *fakeSlack) { api.failWith["auth.test"] = "invalid_auth" }, func(api *fakeSlack) { delete(api.failWith, "auth.test") }, 20 * time.Millisecond},
		// Three 429s asking for a second each: not asked again sooner.
		{"rate limited", func(api *fakeSlack) { api.limit["auth.test"] = 3 }, func(*fakeSlack) {}, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeSlack(t)
			api.mu.Lock()
			tc.fail(api)
			api.mu.Unlock()
			a, h, _, logs := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
				o.BotUserRetry, o.BotUserRetryMax = 20*time.Millisecond, 80*time.Millisecond
			})
			if err := a.Client().CheckToken(t.Context()); err == nil {
				t.Fatal("start-up check: got no error, want auth.test to fail")
			}
			a.LearnBotUser(t.Context())
			a.LearnBotUser(t.Context()) // a second call starts nothing more
			send := func(trigger string) {
				t.Helper()
				if w := serve(t, a.Commands(), slashForm("UBOB", "C1", "/switchman", "<@UBOT> status web", trigger, "")); w != 200 {
					t.Fatalf("status: got %d, want 200", w)
				}
				body := `{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev-` + trigger + `","event_time":1700000000,` +
					`"event":{"type":"app_mention","user":"UBOB","text":"<@UBOT> status web for <@UANA>","ts":"1700000000.000100","channel":"C1","event_ts":"1700000000.000100"}}`
				w := httptest.NewRecorder()
				a.Events().ServeHTTP(w, signed(t, "/slack/events", testSecret, body, time.Now(), "application/json"))
				if w.Code != 200 {
					t.Fatalf("event status: got %d, want 200", w.Code)
				}
			}
			if tc.name != "rate limited" {
				api.waitFor("auth.test asked again", func(calls []apiCall) bool { return len(only(calls, "auth.test")) >= 4 })
				send("before")
				waitUntil(t, "the refusals", func() bool { return h.total() == 2 })
				for _, r := range h.requests() {
					if r.Refused == "" {
						t.Errorf("%q: ran before the bot knew its member ID, want it refused", r.Text)
					}
				}
				api.mu.Lock()
				tc.heal(api)
				api.mu.Unlock()
			}
			waitUntil(t, "the bot's member ID", func() bool { return a.Client().BotUser() == "UBOT" })
			before := h.total()
			send("after")
			waitUntil(t, "the commands", func() bool { return h.total() == before+2 })
			for _, r := range h.requests()[before:] {
				if r.Refused != "" {
					t.Errorf("%q: refused (%s) once the bot knew its member ID, want it run", r.Text, r.Refused)
				}
			}
			a.Stop()
			a.Wait()
			a.Close()
			calls := only(api.snapshot(), "auth.test")
			for i := 2; i < len(calls); i++ {
				if d := calls[i].At.Sub(calls[i-1].At); d < tc.least {
					t.Errorf("auth.test %d: asked %s after the one before, want at least %s", i, d, tc.least)
				}
			}
			if last := calls[len(calls)-1]; last.Status != 200 {
				t.Errorf("last auth.test: got %d, want the answer that named the bot", last.Status)
			}
			log := logs.String()
			if n := strings.Count(log, "member ID is still unknown"); n != 1 {
				t.Errorf("got %d lines saying the member ID is unknown, want 1:\n%s", n, log)
			}
			if n := strings.Count(log, "learnt the bot's member ID"); n != 1 || !strings.Contains(log, "bot_user=UBOT") {
				t.Errorf("got %d lines saying the member ID was learnt, want 1 naming UBOT:\n%s", n, log)
			}
			if strings.Contains(log, "xoxb-test") {
				t.Errorf("the log holds the bot token:\n%s", log)
			}
		})
	}
}

// TestBotUserRetriesStop: asking auth.test again ends with the context it
// was given, or with Close, while Slack still does not answer.
func TestBotUserRetriesStop(t *testing.T) {
	for _, how := range []string{"context", "close"} {
		t.Run(how, func(t *testing.T) {
			api := newFakeSlack(t)
			api.failWith["auth.test"] = "fatal_error"
			sent := &sentCounter{path: "/auth.test"}
			a, _, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
				o.BotUserRetry, o.BotUserRetryMax = 10*time.Millisecond, 10*time.Millisecond
				o.HTTPClient = &http.Client{Transport: sent}
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			a.LearnBotUser(ctx)
			api.waitFor("auth.test asked", func(calls []apiCall) bool { return len(only(calls, "auth.test")) >= 2 })
			if how == "context" {
				cancel()
			}
			closed := make(chan struct{})
			go func() {
				a.Stop()
				a.Wait()
				a.Close()
				close(closed)
			}()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return while auth.test was being asked again")
			}
			// Counted as they are sent: one sent before Close returned may
			// reach the fake Slack only after.
			n := sent.n.Load()
			// Ten times the wait between two calls: none comes.
			time.Sleep(100 * time.Millisecond)
			if got := sent.n.Load(); got != n {
				t.Errorf("auth.test: got %d calls after the stop, want none", got-n)
			}
			a.LearnBotUser(t.Context())
			time.Sleep(100 * time.Millisecond)
			if got := sent.n.Load(); got != n {
				t.Errorf("auth.test: got %d calls after LearnBotUser on a closed adapter, want none", got-n)
			}
		})
	}
}

// sentCounter counts the requests for one Web API method as the adapter
// sends them.
type sentCounter struct {
	path string
	n    atomic.Int64
}

func (c *sentCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, c.path) {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}
