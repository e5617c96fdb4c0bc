package slack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSocketModeUnreadableEnvelopes: an envelope the bot cannot read,
// whether the Socket Mode client could not parse it or the adapter could
// not make a request of it, is logged with its envelope id and
// acknowledged, so that Slack does not send it again; a slash command's
// acknowledgement tells its sender that nothing was run. None runs.
func TestSocketModeUnreadableEnvelopes(t *testing.T) {
	tests := []struct {
		name, id, typ string
		payload       string
		wantReply     bool
	}{
		{"a slash command without its sender", "U1", "slash_commands", `{"command":"/deploy","text":"web 1","channel_id":"C1","trigger_id":"TS9"}`, true},
		{"a slash command the client cannot decode", "U2", "slash_commands", `{"command": 7}`, true},
		{"a type the client does not know", "U3", "a_type_of_tomorrow", `{}`, false},
	}
	api := newFakeSlack(t)
	ss := newSocketServer(t, api)
	a, h, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunSocketMode(ctx) }()
	var conn *websocket.Conn
	select {
	case conn = <-ss.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot did not connect")
	}
	for _, tt := range tests {
		send(t, conn, tt.id, tt.typ, json.RawMessage(tt.payload))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waitUntil(t, "the ack of "+tt.id, func() bool { return len(ss.ack(tt.id)) == 1 })
			ack := ss.ack(tt.id)[0]
			if got := jsonHas(ack, "text", "Switchman could not read this command; nothing was run."); got != tt.wantReply {
				t.Errorf("ack of %s: %s; want a could-not-read reply: %v", tt.id, ack, tt.wantReply)
			}
			if want := "envelope=" + tt.id; !strings.Contains(logs.String(), want) {
				t.Errorf("log %q lacks %q", logs.String(), want)
			}
		})
	}
	endSocket(t, cancel, done)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reqs) != 0 {
		t.Errorf("runs: got %v, want none", h.runs)
	}
}
