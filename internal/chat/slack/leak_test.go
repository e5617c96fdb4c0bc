package slack_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/leakcheck"
)

// TestSocketModeReconnectsLeaveNothing drops the bot's socket again and
// again, and checks that once RunSocketMode returns no goroutine or file
// of any of the connections is left: Slack moves a bot's socket every few
// hours, for as long as it runs. Not parallel: other tests' goroutines
// would count.
func TestSocketModeReconnectsLeaveNothing(t *testing.T) {
	api := newFakeSlack(t)
	ss := newSocketServer(t, api)
	a, _, _, _ := newTestAdapter(t, api, time.Now(), socketMode(api))
	next := func() *websocket.Conn {
		t.Helper()
		select {
		case c := <-ss.conns:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("the bot did not connect")
			return nil
		}
	}
	snap := leakcheck.Take(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunSocketMode(ctx) }()
	conn := next()
	for range 10 {
		// Slack asks for a reconnection, then drops the old socket.
		if err := conn.WriteJSON(map[string]any{"type": "disconnect", "reason": "refresh_requested"}); err != nil {
			t.Fatal(err)
		}
		old := conn
		conn = next()
		old.Close()
	}
	endSocket(t, cancel, done)
	conn.Close()
	a.Stop()
	a.Wait()
	api.srv.CloseClientConnections()
	snap.Check(t)
}

// TestCommandsLeaveNothing runs deploys, a reverted one, a rollback and
// the read-only commands over the HTTP endpoints again and again, and
// checks that once they have all ended, with the bot still running, no
// goroutine or file of theirs is left. Not parallel: other tests'
// goroutines would count.
func TestCommandsLeaveNothing(t *testing.T) {
	f := newFlow(t)
	settle := func() {
		f.engine.Wait()
		f.adapter.Wait()
	}
	cmd := func(text string) {
		t.Helper()
		f.command("UANA", "CREQ", "/switchman", text)
		settle()
	}
	round := func(i int) {
		cmd(fmt.Sprintf("deploy web %d", 1+i%2))
		for _, text := range []string{"status", "status web", "history", "history web prod 5", "audit", "audit web 5", "help", "whoami"} {
			cmd(text)
		}
	}
	round(0) // anything started once for good starts here
	closeConns := func() {
		http.DefaultClient.CloseIdleConnections()
		f.srv.CloseClientConnections()
		f.api.srv.CloseClientConnections()
	}
	closeConns()
	snap := leakcheck.Take(t)
	for i := 1; i <= 6; i++ {
		round(i)
	}
	cmd("deploy web 3") // reverted
	cmd("rollback web")
	cmd("unlock deploys web prod")
	recs, err := f.store.Records(t.Context(), deploy.Filter{})
	if err != nil || len(recs) != 9 {
		for _, r := range recs {
			t.Logf("%s %s %s %s", r.ID, r.Kind, r.Build, r.Outcome)
		}
		t.Fatalf("runs: got %d (%v), want 9: the deploys did not all run", len(recs), err)
	}
	for _, c := range only(f.api.snapshot(), "chat.postEphemeral") {
		if strings.HasPrefix(c.Text, "✖") {
			t.Errorf("a command failed: %s", c.Text)
		}
	}
	closeConns()
	snap.Check(t)
}

// TestSocketModeDownAtStopLeavesNothing: Slack goes away, and the bot
// stops while it is away. Nothing keeps trying to reconnect once
// RunSocketMode has returned.
func TestSocketModeDownAtStopLeavesNothing(t *testing.T) {
	api := newFakeSlack(t)
	ss := newSocketServer(t, api)
	a, _, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api))
	snap := leakcheck.Take(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunSocketMode(ctx) }()
	var conn *websocket.Conn
	select {
	case conn = <-ss.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot did not connect")
	}
	// Slack goes away: no connection, none taken.
	api.srv.Listener.Close()
	conn.NetConn().Close()
	api.srv.CloseClientConnections()
	waitUntil(t, "a connection tried again and refused", func() bool { return strings.Contains(logs.String(), "connection_error") })
	endSocket(t, cancel, done)
	a.Stop()
	a.Wait()
	snap.Check(t)
}
