package slack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack/socketmode"
)

// secretPayload stands for what an envelope's payload holds that no log
// may show: what a user wrote, a response URL that lets anyone reply as
// the bot.
const secretPayload = `{"text":"deploy web 1 --token hunter2","response_url":"https://hooks.slack.com/actions/T1/1/s3cret"}`

// TestSocketModeUnhandledEnvelopeAcknowledged: an envelope of a type the
// bot does not handle that reaches it over the socket is logged at WARN
// with its type and envelope id, without its payload, and acknowledged,
// so that Slack does not send it again; nothing runs.
func TestSocketModeUnhandledEnvelopeAcknowledged(t *testing.T) {
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
	// A hello is the one type the client passes on that the bot has no
	// use for: Slack's carries no envelope id, this one does.
	send(t, conn, "H1", "hello", json.RawMessage(secretPayload))
	waitUntil(t, "the ack of H1", func() bool { return len(ss.ack("H1")) == 1 })
	endSocket(t, cancel, done)
	got := logs.String()
	for _, want := range []string{"level=WARN", "does not handle", "event=hello", "envelope=H1"} {
		if !strings.Contains(got, want) {
			t.Errorf("log: got %q, want it to contain %q", got, want)
		}
	}
	for _, never := range []string{"hunter2", "s3cret"} {
		if strings.Contains(got, never) {
			t.Errorf("log: got %q, want no %q", got, never)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reqs) != 0 {
		t.Errorf("runs: got %v, want none", h.runs)
	}
}

// TestSocketModeUnhandledEventLogged: an event of the Socket Mode client
// that the bot has nothing to do with (of a type a newer client brings,
// an envelope's event without the envelope) is logged at WARN with its
// type and envelope id, never its payload, rather than dropped unseen.
func TestSocketModeUnhandledEventLogged(t *testing.T) {
	tests := []struct {
		name string
		ev   socketmode.Event
		want []string
	}{
		{
			name: "a slash command without its envelope",
			ev:   socketmode.Event{Type: socketmode.EventTypeSlashCommand, Data: json.RawMessage(secretPayload)},
			want: []string{"level=WARN", "with no envelope; dropped", "event=slash_commands"},
		},
		{
			name: "an event type of a newer client",
			ev: socketmode.Event{Type: "a_type_of_tomorrow", Request: &socketmode.Request{
				Type: "a_type_of_tomorrow", EnvelopeID: "N1", Payload: json.RawMessage(secretPayload), RetryAttempt: 2, RetryReason: "timeout"}},
			want: []string{"level=WARN", "does not handle", "event=a_type_of_tomorrow", "envelope=N1", "retry_attempt=2"},
		},
		{
			name: "an envelope without an id",
			ev: socketmode.Event{Type: "a_type_of_tomorrow", Request: &socketmode.Request{
				Type: "a_type_of_tomorrow", Payload: json.RawMessage(secretPayload)}},
			want: []string{"level=WARN", "no id to acknowledge", "event=a_type_of_tomorrow"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeSlack(t)
			a, h, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api))
			a.SocketEvent(context.Background(), tt.ev)
			got := logs.String()
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("log: got %q, want it to contain %q", got, want)
				}
			}
			for _, never := range []string{"hunter2", "s3cret"} {
				if strings.Contains(got, never) {
					t.Errorf("log: got %q, want no %q", got, never)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.reqs) != 0 {
				t.Errorf("runs: got %v, want none", h.runs)
			}
		})
	}
}
