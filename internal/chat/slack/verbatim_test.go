package slack_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	goslack "github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/slack"
)

// TestPostedTextMentionsNobody: text from hosts, artifacts and users
// (stderr, build notes, app names) reaches Slack as text no parsing turns
// into a mention. Escaping keeps out "<!channel>" and "<@U…>"; bare
// "@here", "@channel", "@everyone" or "@ana" are parsed into mentions by
// a mrkdwn text object unless it is verbatim (Slack parses "certain
// mentions" by default), and by the message's fallback text with
// link_names or parse=full. Checked on the exact request chat.postMessage
// receives.
func TestPostedTextMentionsNobody(t *testing.T) {
	var mu sync.Mutex
	var form url.Values
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			v, err := url.ParseQuery(string(body))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			mu.Lock()
			form = v
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":true,"channel":"CDEPLOYS","ts":"1700000000.000100"}`))
		})
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	if !strings.HasPrefix(srv.GetAPIURL(), "http://127.0.0.1:") {
		t.Fatalf("slacktest server at %s; want it on 127.0.0.1", srv.GetAPIURL())
	}
	client := slack.NewClient("xoxb-test", srv.GetAPIURL(), nil, slog.New(slog.DiscardHandler))

	hostile := "@here @channel @everyone @ana #general <!channel> <@U123>"
	m := chat.Message{Level: chat.Failure, Title: "Deploy of " + hostile + " failed",
		Lines:   []string{"stderr: " + hostile, "build notes: " + hostile},
		Fields:  []chat.Field{{Label: "app " + hostile, Value: hostile}},
		Buttons: []chat.Button{{Label: "Roll back", Action: "rollback " + hostile, Style: "danger"}}}
	if err := client.Post(t.Context(), "CDEPLOYS", m); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := form
	mu.Unlock()
	if got == nil {
		t.Fatal("chat.postMessage was not called")
	}
	if p := got.Get("parse"); p != "none" {
		t.Errorf("parse: got %q, want none (full parses @here in the text)", p)
	}
	if l := got.Get("link_names"); l != "false" {
		t.Errorf("link_names: got %q, want false", l)
	}
	// A response_url message, rendered alike, carries neither setting:
	// its text must not hold a bare mention either.
	for _, text := range []string{got.Get("text")} {
		for _, at := range []string{"<!", "<@", "@here", "@channel", "@everyone", "@ana"} {
			if strings.Contains(text, at) {
				t.Errorf("fallback text %q: want no %q", text, at)
			}
		}
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(got.Get("blocks")), &blocks); err != nil {
		t.Fatalf("blocks %q: %v", got.Get("blocks"), err)
	}
	var texts []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if typ, _ := v["type"].(string); typ == goslack.MarkdownType || typ == goslack.PlainTextType {
				if _, ok := v["text"].(string); ok {
					texts = append(texts, v)
					return
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, b := range blocks {
		walk(b)
	}
	mrkdwn := 0
	for _, o := range texts {
		text := o["text"].(string)
		if strings.Contains(text, "<!") || strings.Contains(text, "<@") {
			t.Errorf("text object %v: want no mention syntax", o)
		}
		if o["type"] == goslack.MarkdownType {
			mrkdwn++
			if o["verbatim"] != true {
				t.Errorf("mrkdwn text object %v: got verbatim %v, want true (Slack parses @here in it otherwise)", o, o["verbatim"])
			}
		}
	}
	if mrkdwn < 4 {
		t.Errorf("blocks %s: got %d mrkdwn text objects, want the title's, the lines', the field's and the confirm dialog's", got.Get("blocks"), mrkdwn)
	}
}
