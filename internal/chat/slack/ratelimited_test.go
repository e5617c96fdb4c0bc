package slack_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// appRateLimited is the event Slack sends, instead of the events
// themselves, once an app passed the Events API's limit of 30,000 events
// an hour in a workspace: the mentions of the minute it names are not
// delivered at all.
const appRateLimited = `{"token":"x","type":"app_rate_limited","team_id":"T1","minute_rate_limited":1700000040,"api_app_id":"A1"}`

const rateLimitedLog = "slack is not delivering this app's events"

// TestAppRateLimitedIsLogged: the mentions Slack holds back are answered
// by nobody, and their senders see nothing; the operator is told, with
// the workspace and the minute, rather than left with a bot that went
// quiet.
func TestAppRateLimitedIsLogged(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		api := newFakeSlack(t)
		a, h, _, logs := newTestAdapter(t, api, now)
		w := httptest.NewRecorder()
		a.Events().ServeHTTP(w, signed(t, "/slack/events", testSecret, appRateLimited, now, "application/json"))
		if w.Code != 200 {
			t.Errorf("status: got %d, want 200", w.Code)
		}
		checkRateLimitedLog(t, logs.String())
		if n := h.total(); n != 0 {
			t.Errorf("runs: got %d, want none", n)
		}
	})
	t.Run("socket mode", func(t *testing.T) {
		api := newFakeSlack(t)
		ss := newSocketServer(t, api)
		a, _, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.RunSocketMode(ctx) }()
		var conn *websocket.Conn
		select {
		case conn = <-ss.conns:
		case <-time.After(10 * time.Second):
			t.Fatal("the bot did not connect")
		}
		send(t, conn, "ERL", "events_api", json.RawMessage(appRateLimited))
		waitUntil(t, "the ack", func() bool { return len(ss.ack("ERL")) == 1 })
		endSocket(t, cancel, done)
		checkRateLimitedLog(t, logs.String())
	})
}

func checkRateLimitedLog(t *testing.T, logs string) {
	t.Helper()
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, rateLimitedLog) {
			line = l
		}
	}
	for _, want := range []string{"level=WARN", "team=T1", "minute=2023-11-14T22:14:00"} {
		if !strings.Contains(line, want) {
			t.Errorf("log: got\n%s\nwant a WARN line %q with %q", logs, rateLimitedLog, want)
		}
	}
}
