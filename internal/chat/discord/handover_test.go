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
