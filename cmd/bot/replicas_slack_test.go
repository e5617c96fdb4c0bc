package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// slackCall is one request the fake Slack Web API received.
type slackCall struct {
	Method  string // "chat.postMessage", "chat.update", "chat.postEphemeral", "chat.getPermalink", "response_url"
	Channel string
	TS      string // the message's: given for chat.update, handed out for chat.postMessage
	User    string // chat.postEphemeral's recipient
	Text    string // the fallback text
	Blocks  string // the blocks, as JSON
	At      time.Time
}

// fakeSlackAPI is an httptest.Server on 127.0.0.1 that answers the Web API
// methods the Slack adapter calls with the JSON Slack documents for them,
// and records every call. Several bot processes may share one.
type fakeSlackAPI struct {
	t   testing.TB
	srv *httptest.Server

	mu    sync.Mutex
	calls []slackCall
	n     int
}

func newFakeSlackAPI(t testing.TB) *fakeSlackAPI {
	t.Helper()
	f := &fakeSlackAPI{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// apiURL is what slack.api_url is set to.
func (f *fakeSlackAPI) apiURL() string { return f.srv.URL + "/api/" }

// responseURL is a response_url for a slash command, answered by the fake.
func (f *fakeSlackAPI) responseURL(trigger string) string { return f.srv.URL + "/response/" + trigger }

func (f *fakeSlackAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if strings.HasPrefix(r.URL.Path, "/response/") {
		var m struct {
			Text   string          `json:"text"`
			Blocks json.RawMessage `json:"blocks"`
		}
		json.Unmarshal(body, &m)
		f.record(slackCall{Method: "response_url", Text: m.Text, Blocks: string(m.Blocks)})
		io.WriteString(w, "ok")
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	form, _ := url.ParseQuery(string(body))
	for k, v := range r.URL.Query() { // chat.getPermalink may be a GET
		if _, ok := form[k]; !ok {
			form[k] = v
		}
	}
	if got := r.Header.Get("Authorization"); got != "Bearer xoxb-test" && form.Get("token") != "xoxb-test" {
		f.t.Errorf("%s: got no bot token, want Bearer xoxb-test", method)
	}
	c := slackCall{Method: method, Channel: form.Get("channel"), TS: form.Get("ts"), User: form.Get("user"),
		Text: form.Get("text"), Blocks: form.Get("blocks")}
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	if method == "chat.postMessage" {
		c.TS = fmt.Sprintf("1700000000.%06d", n)
	}
	f.record(c)
	w.Header().Set("Content-Type", "application/json")
	var answer map[string]any
	switch method {
	case "auth.test":
		answer = map[string]any{"ok": true, "user_id": "UBOT", "team_id": "T1"}
	case "chat.postMessage":
		answer = map[string]any{"ok": true, "channel": c.Channel, "ts": c.TS, "message": map[string]any{"text": c.Text}}
	case "chat.update":
		answer = map[string]any{"ok": true, "channel": c.Channel, "ts": c.TS, "text": c.Text}
	case "chat.postEphemeral":
		answer = map[string]any{"ok": true, "message_ts": fmt.Sprintf("1700000001.%06d", n)}
	case "chat.getPermalink":
		answer = map[string]any{"ok": true, "channel": c.Channel,
			"permalink": "http://127.0.0.1/archives/" + c.Channel + "/p" + strings.ReplaceAll(form.Get("message_ts"), ".", "")}
	default:
		answer = map[string]any{"ok": false, "error": "unknown_method"}
	}
	json.NewEncoder(w).Encode(answer)
}

func (f *fakeSlackAPI) record(c slackCall) {
	c.At = time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// snapshot returns the calls so far.
func (f *fakeSlackAPI) snapshot() []slackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackCall(nil), f.calls...)
}

// matching returns the calls so far for which ok holds.
func (f *fakeSlackAPI) matching(ok func(slackCall) bool) []slackCall {
	var out []slackCall
	for _, c := range f.snapshot() {
		if ok(c) {
			out = append(out, c)
		}
	}
	return out
}

// waitCall polls until a call for which ok holds was recorded, and returns
// the first one; after timeout it fails the test.
func (f *fakeSlackAPI) waitCall(what string, timeout time.Duration, ok func(slackCall) bool) slackCall {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := f.matching(ok); len(m) > 0 {
			return m[0]
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no Slack call within %s: %s; calls:\n%s", timeout, what, describeCalls(f.snapshot()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func describeCalls(calls []slackCall) string {
	var b strings.Builder
	for i, c := range calls {
		fmt.Fprintf(&b, "%2d %s %-18s channel=%s ts=%s user=%s text=%q\n", i, c.At.Format("15:04:05.000"), c.Method, c.Channel, c.TS, c.User, c.Text)
	}
	return b.String()
}

// Predicates on calls, for waitCall and matching.
func isMethod(methods ...string) func(slackCall) bool {
	return func(c slackCall) bool {
		for _, m := range methods {
			if c.Method == m {
				return true
			}
		}
		return false
	}
}

func allOf(preds ...func(slackCall) bool) func(slackCall) bool {
	return func(c slackCall) bool {
		for _, p := range preds {
			if !p(c) {
				return false
			}
		}
		return true
	}
}

func toChannel(ch string) func(slackCall) bool {
	return func(c slackCall) bool { return c.Channel == ch }
}

func toUser(u string) func(slackCall) bool {
	return func(c slackCall) bool { return c.User == u }
}

func textHas(parts ...string) func(slackCall) bool {
	return func(c slackCall) bool {
		for _, p := range parts {
			if !strings.Contains(c.Text, p) {
				return false
			}
		}
		return true
	}
}
