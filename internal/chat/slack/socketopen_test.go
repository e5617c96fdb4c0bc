package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSocketModeOpenThatNeverAnswers: an apps.connections.open that never
// answers (a proxy that took the connection and hung, Slack in trouble)
// is given up after the Web API's timeout, logged, and asked again, as any
// failed attempt to connect is: the bot connects once Slack answers,
// rather than wait for ever without a socket and without a word.
func TestSocketModeOpenThatNeverAnswers(t *testing.T) {
	api := newFakeSlack(t)
	ss := newSocketServer(t, api)
	stalled := false
	api.stallWhen = func(c apiCall) bool {
		if c.Method == "apps.connections.open" && !stalled {
			stalled = true
			return true
		}
		return false
	}
	a, _, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunSocketMode(ctx) }()
	defer endSocket(t, cancel, done)
	select {
	case <-ss.conns:
	case <-time.After(time.Minute):
		t.Fatalf("the bot did not connect after its first apps.connections.open went unanswered; calls:\n%s", describe(api.snapshot()))
	}
	if opens := only(api.snapshot(), "apps.connections.open"); len(opens) != 2 {
		t.Errorf("apps.connections.open: got %d calls, want the one unanswered, then the one answered", len(opens))
	}
	if log := logs.String(); !strings.Contains(log, "cannot connect; trying again") {
		t.Errorf("log: got\n%s\nwant the unanswered attempt logged", log)
	}
}
