package discord

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
)

// fakeGateway is a local stand-in for Discord's gateway: hello, READY,
// then the interactions it is given as INTERACTION_CREATE dispatches.
func fakeGateway(t *testing.T, interactions ...map[string]any) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer conn.Close()
		send := func(v any) bool {
			if err := conn.WriteJSON(v); err != nil {
				t.Errorf("gateway write: %v", err)
				return false
			}
			return true
		}
		if !send(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 45000}}) {
			return
		}
		var identify struct {
			Op int `json:"op"`
			D  struct {
				Token string `json:"token"`
			} `json:"d"`
		}
		if err := conn.ReadJSON(&identify); err != nil || identify.Op != 2 || identify.D.Token != "Bot "+testBotToken {
			t.Errorf("first message from the bot: op %d (%v), want an identify with the bot token", identify.Op, err)
			return
		}
		if !send(map[string]any{"op": 0, "t": "READY", "s": 1, "d": map[string]any{
			"v": 9, "session_id": "session-1", "user": map[string]any{"id": "999", "username": "switchman", "bot": true}, "guilds": []any{},
		}}) {
			return
		}
		for i, in := range interactions {
			if !send(map[string]any{"op": 0, "t": "INTERACTION_CREATE", "s": i + 2, "d": in}) {
				return
			}
		}
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGatewaySharesTheDispatch(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, nil)
	gw := fakeGateway(t, slashCommand("501", "111", "whoami"))
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()
	calls := hs.fd.waitCalls(t, 3) // GET gateway, callback, edit
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunGateway: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunGateway did not return after its context ended")
	}
	hs.shutdown(t)

	if got := hs.h.Requests(); len(got) != 1 || got[0].User != "ana" || got[0].Text != "whoami" {
		t.Errorf("requests %+v, want whoami as ana", got)
	}
	want := []string{
		"GET /api/v9/gateway",
		"POST /api/v9/interactions/501/" + interactionToken("501") + "/callback",
		"PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("501") + "/messages/@original",
	}
	calls = hs.fd.Calls()
	if len(calls) != len(want) {
		t.Fatalf("calls %s, want %v", transcript(t, calls), want)
	}
	for i, c := range calls {
		if got := c.Method + " " + c.Path; got != want[i] {
			t.Errorf("call %d: %s, want %s", i, got, want[i])
		}
	}
	var resp struct {
		Type int `json:"type"`
		Data struct {
			Flags int `json:"flags"`
		} `json:"data"`
	}
	if err := json.Unmarshal(calls[1].Body, &resp); err != nil || resp.Type != 5 || resp.Data.Flags != 64 {
		t.Errorf("callback %s, want a deferred ephemeral response", calls[1].Body)
	}
}
