package discord

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
)

// windowTransport sends the callback of one interaction to slow, a
// server that answers nothing, and every other call on to next.
type windowTransport struct {
	callback, slow string
	next           http.RoundTripper
}

func (wt windowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != wt.callback {
		return wt.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = "http", wt.slow
	return http.DefaultTransport.RoundTrip(r)
}

// TestGatewayResponseGivenUpAtTheWindow: the first response to an
// interaction received over the gateway, which Discord does not answer,
// is given up when Discord's window for it ends, not when the HTTP
// client's timeout does (Discord refuses a later one): the log says the
// window was missed, the command is not run and is audited as refused,
// and the handler returns while the callback is still unanswered.
func TestGatewayResponseGivenUpAtTheWindow(t *testing.T) {
	callback := "/api/v9/interactions/504/" + interactionToken("504") + "/callback"
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs before slow.Close

	ran := make(chan struct{}, 1)
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		ran <- struct{}{}
		out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, func(o *Options) {
		c := *o.HTTPClient
		c.Timeout = 0 // no bound but the window's
		c.Transport = windowTransport{callback: callback, slow: slow.Listener.Addr().String(), next: c.Transport}
		o.HTTPClient = &c
	})
	gw := fakeGateway(t, slashCommand("504", "111", "whoami"))
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()
	waitFor(t, "the refusal audited", func() bool { return len(hs.h.Audited()) > 0 })
	cancel()
	waitGateway(t, done)
	// The callback is still unanswered: the handler has returned
	// without it, and Shutdown, which waits for it, ends.
	hs.shutdown(t)

	select {
	case <-ran:
		t.Error("the command ran, want it not run when its first response missed Discord's window")
	default:
	}
	if got := hs.h.Audited(); len(got) != 1 || got[0].Text != "whoami" ||
		got[0].Refused != "Discord did not take the first response; nothing was run" {
		t.Errorf("audited %+v, want ana's whoami refused as its first response failed", got)
	}
	logs := hs.logs.String()
	if !strings.Contains(logs, "discord interaction response not sent within Discord's window for it") ||
		!strings.Contains(logs, "interaction=504") || !strings.Contains(logs, "window=3s") {
		t.Errorf("logs:\n%s\nwant the response of 504 logged as given up at the end of the 3s window", logs)
	}
}
