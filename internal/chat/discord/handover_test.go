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
// of its interaction's token, where the bot may not post in the channel
// either, has its final report logged at ERROR and noted for status,
// not lost. Discord refuses the expired token's edits, as it does.
func TestFinalStateAfterTokenExpiry(t *testing.T) {
	tests := []struct {
		name        string
		channel     int // the answer to a channel post
		wantChannel bool
	}{
		{"channel refused", http.StatusForbidden, false},
		{"channel takes it", http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, deployHandler("d-12"), nil)
			var started time.Time
			hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
				expired := !started.IsZero() && hs.clock.Now().Sub(started) >= 15*time.Minute
				switch {
				case expired && strings.HasPrefix(c.Path, "/api/v9/webhooks/"):
					return http.StatusUnauthorized, `{"message":"Invalid Webhook Token","code":50027}`, true
				case c.Method == http.MethodPost && strings.Contains(c.Path, "/channels/") && tt.channel != http.StatusOK:
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

			var posted bool
			for _, c := range hs.fd.Calls() {
				if c.Method == http.MethodPost && strings.Contains(c.Path, "/channels/"+testChannel+"/messages") && c.Status == http.StatusOK {
					posted = strings.Contains(string(c.Body), "rollback web prod") || strings.Contains(string(c.Body), "failed")
				}
			}
			notes := hs.h.Undelivered()
			logs := hs.logs.String()
			if tt.wantChannel {
				if !posted || len(notes) != 0 {
					t.Errorf("posted %v, notes %+v; want the final report posted in the channel and nothing noted", posted, notes)
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
