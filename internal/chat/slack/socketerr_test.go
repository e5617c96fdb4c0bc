package slack_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack/socketmode"

	"github.com/switchman-bot/switchman/internal/chat/slack"
)

// TestSocketModeConnectionErrorSaysWhy: when Socket Mode cannot connect,
// each failed attempt is logged with Slack's answer, the attempt and the
// wait before the next, so that an operator can tell a refused app token
// scope from Slack being down or a proxy in the way. The error's URLs are
// cut to scheme and host: api_url may carry a proxy's credentials.
func TestSocketModeConnectionErrorSaysWhy(t *testing.T) {
	tests := []struct {
		name string
		// setup makes apps.connections.open fail and returns the
		// api_url the adapter uses.
		setup func(api *fakeSlack) string
		want  []string
		never string
	}{
		{"slack refuses", func(api *fakeSlack) string {
			api.failWith["apps.connections.open"] = "internal_error"
			return api.apiURL()
		}, []string{"internal_error", "attempt=", "retry_in="}, ""},
		{"slack unreachable", func(api *fakeSlack) string {
			// A closed port behind an api_url with a proxy's credentials.
			api.srv.Close()
			return strings.Replace(api.apiURL(), "http://", "http://proxyuser:s3cret@", 1) + "tenant-key/"
		}, []string{"http://127.0.0.1:", "connection refused", "attempt=", "retry_in="}, "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeSlack(t)
			apiURL := tt.setup(api)
			a, _, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api), func(o *slack.Options) {
				o.Config.Slack.APIURL = apiURL
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.RunSocketMode(ctx) }()
			waitUntil(t, "a failed connection logged", func() bool { return strings.Contains(logs.String(), "connection_error") })
			endSocket(t, cancel, done)
			var line string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "connection_error") {
					line = l
					break
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("log of a failed connection: got\n%s\nwant it to contain %q", line, w)
				}
			}
			if tt.never != "" && strings.Contains(logs.String(), tt.never) {
				t.Errorf("log: got the api_url's credentials %q in\n%s", tt.never, logs.String())
			}
		})
	}
}

// TestSocketModeStopIsNoConnectionError: a bot that stops closes its
// socket, and the client's last attempt to reconnect, cut short by that,
// is no failure to tell the operator about.
func TestSocketModeStopIsNoConnectionError(t *testing.T) {
	for range 5 {
		api := newFakeSlack(t)
		ss := newSocketServer(t, api)
		a, _, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.RunSocketMode(ctx) }()
		select {
		case <-ss.conns:
		case <-time.After(10 * time.Second):
			t.Fatal("the bot did not connect")
		}
		endSocket(t, cancel, done)
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				t.Fatalf("log of a clean stop: got\n%s\nwant no warning", logs.String())
			}
		}
	}
}

// TestSocketModeAckWriteFailureLogged: an acknowledgement the client
// could not write (its socket broke as it wrote it) leaves a slash
// command's reply unsent and Slack waiting for an answer; the operator
// learns of it from a WARN line with the envelope and the cause, and
// never the reply's text.
func TestSocketModeAckWriteFailureLogged(t *testing.T) {
	api := newFakeSlack(t)
	a, _, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api))
	payload := map[string]any{"response_type": "ephemeral", "text": "secret reply text"}
	a.SocketEvent(context.Background(), socketmode.Event{Type: socketmode.EventTypeErrorWriteFailed, Data: &socketmode.ErrorWriteFailed{
		Cause:    errors.New("write tcp 127.0.0.1:5000->127.0.0.1:6000: write: broken pipe"),
		Response: &socketmode.Response{EnvelopeID: "env-42", Payload: payload},
	}})
	got := logs.String()
	for _, want := range []string{"level=WARN", "acknowledgement", "envelope=env-42", "broken pipe", "reply=true"} {
		if !strings.Contains(got, want) {
			t.Errorf("log: got %q, want it to contain %q", got, want)
		}
	}
	if strings.Contains(got, "secret reply text") {
		t.Errorf("log: got %q, want no reply text", got)
	}
}

// failingPayload is a reply that cannot be encoded, with an error that
// quotes a URL as an HTTP client's does.
type failingPayload struct{}

func (failingPayload) MarshalJSON() ([]byte, error) {
	return nil, errors.New(`Post "https://proxyuser:s3cret@hooks.slack.com/commands/T000/123/tok3n": EOF`)
}

// TestSocketModeAckFailureRedacted: an acknowledgement the Socket Mode
// client refuses is logged at WARN with the envelope and the cause, whose
// URLs are cut to scheme and host like every other Socket Mode error's:
// a URL may carry a proxy's credentials or be a response_url.
func TestSocketModeAckFailureRedacted(t *testing.T) {
	api := newFakeSlack(t)
	a, _, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api))
	a.AckOn(context.Background(), "env-7", failingPayload{})
	got := logs.String()
	for _, want := range []string{"level=WARN", "ack failed", "envelope=env-7", "https://hooks.slack.com/…"} {
		if !strings.Contains(got, want) {
			t.Errorf("log: got %q, want it to contain %q", got, want)
		}
	}
	for _, never := range []string{"s3cret", "tok3n"} {
		if strings.Contains(got, never) {
			t.Errorf("log: got %q, want no %q", got, never)
		}
	}
}
