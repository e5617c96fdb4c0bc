package discord

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
)

// slowAudit is a handler whose refusals take until release is closed, as
// commands.Service's do while it writes their audit entry to a store
// that does not answer (its tries and their waits take up to 10 s).
type slowAudit struct {
	*fakeHandler
	release chan struct{}
}

func (s slowAudit) Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome {
	if req.Refused != "" {
		<-s.release
	}
	return s.fakeHandler.Handle(ctx, req, out)
}

// TestRefusedBeforeParsing covers interactions that cannot become a
// command: each reaches the handler only as a refusal, so that it is
// audited, never run, and its sender is told the reason. Discord waits
// 3 s for the answer, and the refusal's audit write may take longer, so
// the answer (deferred, to the requester alone) does not wait for it;
// the reason replaces the "thinking…" once the handler has refused the
// interaction.
func TestRefusedBeforeParsing(t *testing.T) {
	otherGuild := deploySlash("423", "111")
	otherGuild["guild_id"] = "999"
	noUser := deploySlash("426", "111")
	delete(noUser, "member")
	delete(noUser, "user")
	menu := buttonClick("425", "111", "deploy web 1337")
	menu["data"].(map[string]any)["component_type"] = 3
	tests := []struct {
		name    string
		payload map[string]any
		reason  string // in the reply and Request.Refused
		text    string // Request.Text: what the interaction carried
	}{
		{"another guild", otherGuild, "does not take commands here", "/deploy app:web build:1337"},
		{"unusable option", slashCommand("424", "111", "deploy", opt("app", 3, "web"), opt("build", 3, "1337 --force x")), "build must be one word", "/deploy app:web build:1337 --force x"},
		{"no user", noUser, "could not tell who you are", "/deploy app:web build:1337"},
		{"a component that is no button", menu, "Switchman only knows buttons", "deploy web 1337"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fh := &fakeHandler{}
			h := slowAudit{fakeHandler: fh, release: make(chan struct{})}
			hs := newHarness(t, fh, func(o *Options) { o.Handler = h })
			answered := make(chan *httptest.ResponseRecorder, 1)
			go func() { answered <- hs.post(t, tt.payload) }()
			var w *httptest.ResponseRecorder
			select {
			case w = <-answered:
			case <-time.After(30 * time.Second):
				close(h.release)
				<-answered
				t.Fatal("no answer while the refusal's audit write was held: the answer waited for it")
			}
			resp := responseOf(t, w)
			data, _ := resp["data"].(map[string]any)
			if resp["type"] != 5.0 || data["flags"] != 64.0 {
				t.Errorf("response %v, want a deferred response to the requester alone", resp)
			}
			close(h.release)
			hs.shutdown(t)
			var edit *apiCall
			for _, c := range hs.fd.Calls() {
				if c.Method == "PATCH" && strings.HasSuffix(c.Path, "/messages/@original") {
					edit = &c
				}
			}
			if edit == nil || !strings.Contains(string(edit.Body), tt.reason) {
				t.Errorf("calls %s, want the deferred response edited to say %q", fmt.Sprint(hs.fd.Calls()), tt.reason)
			}
			if reqs := fh.Requests(); len(reqs) != 1 || !strings.Contains(reqs[0].Refused, tt.reason) || !strings.HasPrefix(reqs[0].Text, tt.text) {
				t.Errorf("requests %+v, want one refusal saying %q of %q", reqs, tt.reason, tt.text)
			}
		})
	}
}
