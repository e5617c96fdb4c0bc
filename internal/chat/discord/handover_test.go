package discord

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestHandoverTriedAgain: a quiet deploy whose move to a channel message
// fails at the handover for a passing reason (a 429, Discord down for a
// moment) tries again while the interaction's token lasts, rather than
// wait for the deploy's next event, which may come once the token has
// expired, leaving the reply with its stale prompt and buttons.
func TestHandoverTriedAgain(t *testing.T) {
	hs := newHarness(t, deployHandler("d-11"), func(o *Options) {
		o.Now = time.Now
		o.Handover = 300 * time.Millisecond
	})
	hs.clock.Set(time.Now()) // the signatures' time
	var mu sync.Mutex
	posts := 0
	hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
		if c.Method == http.MethodPost && strings.Contains(c.Path, "/channels/") {
			mu.Lock()
			defer mu.Unlock()
			if posts++; posts == 1 {
				return http.StatusServiceUnavailable, `{"message":"upstream connect error","code":0}`, true
			}
		}
		return 0, "", false
	}
	out, started := hs.startDeploy(t, "432", "d-11")
	out.Progress(deploy.Event{Kind: deploy.EventConfirm, Time: started, DeployID: "d-11", App: "web", Env: "prod", Build: "1337",
		Text: "2 migrations to run", Migrations: []string{"0042_add_index", "0043_drop_column"}})
	// No further event: the move is tried again by itself.
	var moved bool
	waitFor(t, "the progress moved to a channel message", func() bool {
		for _, c := range hs.fd.Calls() {
			if c.Method == http.MethodPost && strings.Contains(c.Path, "/channels/") && c.Status == http.StatusOK {
				moved = true
			}
		}
		return moved
	})
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: time.Now(), DeployID: "d-11", App: "web", Env: "prod", Build: "1337",
		Record: record("d-11", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.shutdown(t)
	calls := hs.fd.Calls()
	var note bool
	for _, c := range calls {
		if strings.HasSuffix(c.Path, "/messages/@original") && strings.Contains(string(c.Body), "Continued in a new message below") {
			note = true
		}
	}
	if !note {
		t.Errorf("calls %s, want the reply left with the handover note", transcript(t, calls))
	}
}

// TestFinalStateAfterTokenExpiry: a deploy that ends after the 15 minutes
// of its interaction's token posts its final report in the channel with
// the bot token; where the bot may not post there, it sends it to the
// requester as a direct message; where that fails too, the report is
// logged at ERROR and noted for status, not lost. Discord refuses the
// expired token's edits, as it does.
func TestFinalStateAfterTokenExpiry(t *testing.T) {
	const dmChannel = "777"
	tests := []struct {
		name        string
		channel     int    // the answer to a post in the command's channel
		dmOpen      int    // the answer to POST /users/@me/channels
		dmPost      int    // the answer to a post in the direct message
		want        string // where the report went: channel, dm or nowhere
		wantDMTried bool
		// limited names the direct message's call ("open" or "post")
		// that Discord answers 429 once before taking it.
		limited string
	}{
		{"channel takes it", http.StatusOK, http.StatusOK, http.StatusOK, "channel", false, ""},
		{"channel refused, direct message taken", http.StatusForbidden, http.StatusOK, http.StatusOK, "dm", true, ""},
		{"channel refused, requester takes no direct messages", http.StatusForbidden, http.StatusOK, http.StatusForbidden, "nowhere", true, ""},
		{"channel refused, no direct message opened", http.StatusForbidden, http.StatusForbidden, http.StatusOK, "nowhere", true, ""},
		{"channel refused, direct message opened after a 429", http.StatusForbidden, http.StatusOK, http.StatusOK, "dm", true, "open"},
		{"channel refused, direct message sent after a 429", http.StatusForbidden, http.StatusOK, http.StatusOK, "dm", true, "post"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, deployHandler("d-12"), nil)
			var started time.Time
			limited := tt.limited
			hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
				expired := !started.IsZero() && hs.clock.Now().Sub(started) >= 15*time.Minute
				dmOpen := c.Method == http.MethodPost && c.Path == "/api/v9/users/@me/channels"
				dmPost := c.Method == http.MethodPost && c.Path == "/api/v9/channels/"+dmChannel+"/messages"
				switch {
				case limited == "open" && dmOpen, limited == "post" && dmPost:
					limited = ""
					return http.StatusTooManyRequests, `{"message":"You are being rate limited.","retry_after":0.05,"global":false}`, true
				case expired && strings.HasPrefix(c.Path, "/api/v9/webhooks/"):
					return http.StatusUnauthorized, `{"message":"Invalid Webhook Token","code":50027}`, true
				case c.Method == http.MethodPost && c.Path == "/api/v9/users/@me/channels":
					if tt.dmOpen != http.StatusOK {
						return tt.dmOpen, `{"message":"Missing Access","code":50001}`, true
					}
					return http.StatusOK, `{"id":"` + dmChannel + `","type":1}`, true
				case c.Method == http.MethodPost && c.Path == "/api/v9/channels/"+dmChannel+"/messages" && tt.dmPost != http.StatusOK:
					return tt.dmPost, `{"message":"Cannot send messages to this user","code":50007}`, true
				case c.Method == http.MethodPost && c.Path == "/api/v9/channels/"+testChannel+"/messages" && tt.channel != http.StatusOK:
					return tt.channel, `{"message":"Missing Access","code":50001}`, true
				}
				return 0, "", false
			}
			out, at := hs.startDeploy(t, "433", "d-12")
			started = at
			hs.clock.Advance(16 * time.Minute)
			out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: hs.clock.Now(), DeployID: "d-12", App: "web", Env: "prod", Build: "1337",
				Record: record("d-12", deploy.KindDeploy, deploy.OutcomeFailed, started)})
			hs.shutdown(t)

			var posted, direct, dmTried bool
			for _, c := range hs.fd.Calls() {
				report := strings.Contains(string(c.Body), "rollback web prod") || strings.Contains(string(c.Body), "failed")
				switch {
				case c.Method == http.MethodPost && c.Path == "/api/v9/channels/"+testChannel+"/messages" && c.Status == http.StatusOK:
					posted = report
				case c.Method == http.MethodPost && c.Path == "/api/v9/users/@me/channels":
					dmTried = true
					if got, want := string(c.Body), `{"recipient_id":"111"}`; got != want || c.Auth != "bot" {
						t.Errorf("direct message opened with %s (auth %s), want %s with the bot token", got, c.Auth, want)
					}
				case c.Method == http.MethodPost && c.Path == "/api/v9/channels/"+dmChannel+"/messages" && c.Status == http.StatusOK:
					direct = report && strings.Contains(string(c.Body), "Sent to you directly") && !strings.Contains(string(c.Body), `"custom_id"`)
				}
			}
			got := "nowhere"
			switch {
			case posted:
				got = "channel"
			case direct:
				got = "dm"
			}
			if got != tt.want || dmTried != tt.wantDMTried {
				t.Fatalf("report went to %s (direct message tried: %v), want %s (%v); calls %s", got, dmTried, tt.want, tt.wantDMTried, transcript(t, hs.fd.Calls()))
			}
			notes := hs.h.Undelivered()
			logs := hs.logs.String()
			if tt.want != "nowhere" {
				if len(notes) != 0 {
					t.Errorf("notes %+v, want none: the report was delivered", notes)
				}
				return
			}
			if len(notes) != 1 {
				t.Fatalf("notes %+v, want one", notes)
			}
			if n := notes[0]; n.DeployID != "d-12" || n.App != "web" || n.Env != "prod" || n.Platform != Platform || n.Channel != testChannel ||
				!strings.Contains(n.Reason, "Missing Access") {
				t.Errorf("note %+v, want d-12 web/prod in discord channel %s, refused for Missing Access", n, testChannel)
			}
			if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "deploy=d-12") {
				t.Errorf("logs lack the ERROR naming d-12:\n%s", logs)
			}
		})
	}
}
